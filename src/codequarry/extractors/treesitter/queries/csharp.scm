; pack-version: 2
; C#: namespaces (block and file-scoped) and enclosing types qualify names.
(file_scoped_namespace_declaration name: (_) @package)
(namespace_declaration name: (_) @name) @def.namespace
(class_declaration name: (identifier) @name) @def.class
(struct_declaration name: (identifier) @name) @def.struct
(interface_declaration name: (identifier) @name) @def.interface
(enum_declaration name: (identifier) @name) @def.enum
(record_declaration name: (identifier) @name) @def.record
(delegate_declaration name: (identifier) @name) @def.delegate
(method_declaration name: (identifier) @name) @def.method
(constructor_declaration name: (identifier) @name) @def.constructor
(local_function_statement name: (identifier) @name) @def.function

; --- imports: @source is the module as written, @import.<kind> the statement
(using_directive [(identifier) (qualified_name)] @source) @import.using

; --- calls: one capture per call, named for where its callee is: @call.text.F (the text of field F),
;     @call.before.F (from the call's start to field F), @call.through.F (from the call's start to F's end)
(invocation_expression) @call.text.function
(object_creation_expression) @call.text.type
