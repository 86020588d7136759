# kvstash_engine: the libtorch decoder, sessions with the store, the model maker.
add_library(kvstash_engine compute_dtype.cc engine.cc llama_model.cc model_config.cc
                           model_maker.cc sampler.cc)
add_library(kvstash::engine ALIAS kvstash_engine)
kvstash_public_headers(kvstash_engine)
target_link_libraries(kvstash_engine PUBLIC kvstash::store kvstash::safetensors
                      kvstash::tokenizer PRIVATE nlohmann_json::nlohmann_json)
kvstash_use_torch(kvstash_engine)
# The Python module (python/) links it into a shared object.
set_target_properties(kvstash_engine PROPERTIES POSITION_INDEPENDENT_CODE ON)
