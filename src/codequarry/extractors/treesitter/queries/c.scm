; pack-version: 1
; C: functions (definitions and prototypes), tagged types with a body, typedefs, macros, #include.
(function_definition declarator: (function_declarator declarator: (identifier) @name)) @def.function
(function_definition
  declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))) @def.function
(function_definition
  declarator: (pointer_declarator
    declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @name)))) @def.function
(declaration declarator: (function_declarator declarator: (identifier) @name)) @def.prototype
(declaration
  declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))) @def.prototype
(struct_specifier name: (type_identifier) @name body: (_)) @def.struct
(union_specifier name: (type_identifier) @name body: (_)) @def.union
(enum_specifier name: (type_identifier) @name body: (_)) @def.enum
(type_definition declarator: (type_identifier) @name) @def.typedef
(preproc_function_def name: (identifier) @name) @def.macro
(preproc_def name: (identifier) @name) @def.macro

; --- imports: @source is the module as written, @import.<kind> the statement
(preproc_include path: (_) @source) @import.include

; --- calls: each pattern captures the callee (@callee: its text; @callee_end: the text from the
;     call's start to the end of this node)
(call_expression function: (_) @callee)
