# Tests of engine/tokenizer*: hand-made tokenizer.json files and the maker.
kvstash_add_test(engine_tokenizer_test SOURCES tokenizer_test.cc LIBS kvstash::tokenizer)
kvstash_add_test(engine_tokenizer_pre_tokenizer_test
  SOURCES tokenizer_pre_tokenizer_test.cc LIBS kvstash::tokenizer)
kvstash_add_test(engine_tokenizer_maker_test SOURCES tokenizer_maker_test.cc LIBS kvstash::tokenizer)
