; pack-version: 2
; Java: the package qualifies every name; nested classes qualify their members.
(package_declaration [(scoped_identifier) (identifier)] @package)
(class_declaration name: (identifier) @name) @def.class
(interface_declaration name: (identifier) @name) @def.interface
(enum_declaration name: (identifier) @name) @def.enum
(record_declaration name: (identifier) @name) @def.record
(annotation_type_declaration name: (identifier) @name) @def.annotation
(method_declaration name: (identifier) @name) @def.method
(constructor_declaration name: (identifier) @name) @def.constructor

; --- imports: @source is the module as written, @import.<kind> the statement
(import_declaration [(scoped_identifier) (identifier)] @source) @import.import

; --- calls: one capture per call, named for where its callee is: @call.text.F (the text of field F),
;     @call.before.F (from the call's start to field F), @call.through.F (from the call's start to F's end)
(method_invocation) @call.before.arguments
(object_creation_expression) @call.text.type
