# Warnings for every target of the project.
add_compile_options(-Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes
		    -Wmissing-prototypes -Wno-unused-parameter)
if(DROVER_WERROR)
	add_compile_options(-Werror)
endif()
