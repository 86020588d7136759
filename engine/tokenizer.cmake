# kvstash_tokenizer: Hugging Face tokenizer.json (byte-level BPE) without
# libtorch: load, Encode, Decode, and a maker for test models.
add_library(kvstash_tokenizer
  bpe_model.cc
  bpe_trainer.cc
  tokenizer.cc
  tokenizer_added_tokens.cc
  tokenizer_byte_level.cc
  tokenizer_json.cc
  tokenizer_maker.cc
  tokenizer_normalizer.cc
  tokenizer_pipeline.cc
  tokenizer_pre_tokenizer.cc
  tokenizer_regex.cc
  tokenizer_unicode.cc
)
add_library(kvstash::tokenizer ALIAS kvstash_tokenizer)
kvstash_public_headers(kvstash_tokenizer)
# nlohmann_json is public so users (the engine, tools, tests) can build or
# inspect tokenizer.json with the same library; PCRE2 and utf8proc stay inside.
target_link_libraries(kvstash_tokenizer
  PUBLIC kvstash::serde nlohmann_json::nlohmann_json
  PRIVATE PkgConfig::PCRE2 PkgConfig::UTF8PROC
)
set_target_properties(kvstash_tokenizer PROPERTIES POSITION_INDEPENDENT_CODE ON)
