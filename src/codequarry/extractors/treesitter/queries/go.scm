; pack-version: 1
; Go: the package qualifies every name; methods are qualified by their receiver's type.
(package_clause (package_identifier) @package)
(function_declaration name: (identifier) @name) @def.function
(method_declaration
  receiver: (parameter_list
    (parameter_declaration
      type: [(type_identifier) @receiver
             (pointer_type (type_identifier) @receiver)
             (generic_type type: (type_identifier) @receiver)
             (pointer_type (generic_type type: (type_identifier) @receiver))]))
  name: (field_identifier) @name) @def.method
(type_spec name: (type_identifier) @name type: (struct_type)) @def.struct
(type_spec name: (type_identifier) @name type: (interface_type)) @def.interface
(type_spec
  name: (type_identifier) @name
  type: [(type_identifier) (qualified_type) (function_type) (map_type) (slice_type) (array_type)
         (channel_type) (pointer_type) (generic_type)]) @def.type
(type_alias name: (type_identifier) @name) @def.type

; --- imports: @source is the module as written, @import.<kind> the statement
(import_spec path: (interpreted_string_literal) @source) @import.import

; --- calls: each pattern captures the callee (@callee: its text; @callee_end: the text from the
;     call's start to the end of this node)
(call_expression function: (_) @callee)
