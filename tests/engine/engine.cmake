kvstash_add_test(engine_test SOURCES engine_test.cc LIBS kvstash::engine)
kvstash_add_test(engine_model_config_test SOURCES model_config_test.cc LIBS kvstash::engine)
kvstash_add_test(engine_compute_dtype_test SOURCES compute_dtype_test.cc LIBS kvstash::engine)
