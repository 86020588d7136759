kvstash_add_test(engine_safetensors_test SOURCES safetensors_test.cc LIBS kvstash::safetensors)
