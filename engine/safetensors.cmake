# kvstash_safetensors: torch-free safetensors reading (mmap) and writing.
add_library(kvstash_safetensors
  safetensors.cc
  safetensors_writer.cc
)
add_library(kvstash::safetensors ALIAS kvstash_safetensors)
kvstash_public_headers(kvstash_safetensors)
target_link_libraries(kvstash_safetensors PUBLIC kvstash::serde PRIVATE nlohmann_json::nlohmann_json)
set_target_properties(kvstash_safetensors PROPERTIES POSITION_INDEPENDENT_CODE ON)
