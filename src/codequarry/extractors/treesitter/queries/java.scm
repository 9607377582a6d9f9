; pack-version: 1
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

; --- calls: each pattern captures the callee (@callee: its text; @callee_end: the text from the
;     call's start to the end of this node)
(method_invocation name: (identifier) @callee_end)
(object_creation_expression type: (_) @callee)
