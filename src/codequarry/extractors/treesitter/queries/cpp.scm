; pack-version: 2
; C++: C's definitions plus classes, namespaces and methods; out-of-class definitions keep their
; qualified name (Widget::draw).
(function_definition
  declarator: (function_declarator
    declarator: [(identifier) (field_identifier) (qualified_identifier) (destructor_name) (operator_name)] @name)) @def.function
(function_definition
  declarator: (pointer_declarator
    declarator: (function_declarator declarator: [(identifier) (field_identifier) (qualified_identifier)] @name))) @def.function
(function_definition
  declarator: (reference_declarator
    (function_declarator declarator: [(identifier) (field_identifier) (qualified_identifier)] @name))) @def.function
(declaration declarator: (function_declarator declarator: [(identifier) (qualified_identifier)] @name)) @def.prototype
(field_declaration declarator: (function_declarator declarator: [(field_identifier) (destructor_name) (operator_name)] @name)) @def.method
(class_specifier name: (_) @name body: (_)) @def.class
(struct_specifier name: (_) @name body: (_)) @def.struct
(union_specifier name: (_) @name body: (_)) @def.union
(enum_specifier name: (_) @name body: (_)) @def.enum
(namespace_definition name: (_) @name) @def.namespace
(type_definition declarator: (type_identifier) @name) @def.typedef
(alias_declaration name: (type_identifier) @name) @def.type
(preproc_function_def name: (identifier) @name) @def.macro
(preproc_def name: (identifier) @name) @def.macro

; --- imports: @source is the module as written, @import.<kind> the statement
(preproc_include path: (_) @source) @import.include
(using_declaration (_) @source) @import.using

; --- calls: one capture per call, named for where its callee is: @call.text.F (the text of field F),
;     @call.before.F (from the call's start to field F), @call.through.F (from the call's start to F's end)
(call_expression) @call.text.function
