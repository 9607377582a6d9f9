; pack-version: 2
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

; --- calls: one capture per call, named for where its callee is: @call.text.F (the text of field F),
;     @call.before.F (from the call's start to field F), @call.through.F (from the call's start to F's end)
(call_expression) @call.text.function
