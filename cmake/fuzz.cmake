# -DDROVER_FUZZ=ON: the libFuzzer harnesses of tests/fuzz (clang only). Every
# target is built with libFuzzer's coverage counters, AddressSanitizer and
# UndefinedBehaviorSanitizer; the harnesses alone link libFuzzer's main.
if(DROVER_FUZZ)
	if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
		message(FATAL_ERROR "DROVER_FUZZ needs clang (-fsanitize=fuzzer): CC=clang")
	endif()
	add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
			    -fno-sanitize-recover=undefined)
	add_link_options(-fsanitize=address,undefined)
endif()
