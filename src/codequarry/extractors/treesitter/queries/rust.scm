; pack-version: 2
; Rust: modules and impl blocks qualify names (Type::method); macros count as calls.
(function_item name: (identifier) @name) @def.function
(function_signature_item name: (identifier) @name) @def.function
(struct_item name: (type_identifier) @name) @def.struct
(enum_item name: (type_identifier) @name) @def.enum
(union_item name: (type_identifier) @name) @def.union
(trait_item name: (type_identifier) @name) @def.trait
(type_item name: (type_identifier) @name) @def.type
(mod_item name: (identifier) @name) @def.module
(macro_definition name: (identifier) @name) @def.macro
(impl_item
  type: [(type_identifier) @name
         (generic_type type: (type_identifier) @name)
         (scoped_type_identifier name: (type_identifier) @name)]) @scope

; --- imports: @source is the module as written, @import.<kind> the statement
(use_declaration argument: (_) @source) @import.use
(extern_crate_declaration name: (identifier) @source) @import.extern_crate

; --- calls: one capture per call, named for where its callee is: @call.text.F (the text of field F),
;     @call.before.F (from the call's start to field F), @call.through.F (from the call's start to F's end)
(call_expression) @call.text.function
(macro_invocation) @call.text.macro
