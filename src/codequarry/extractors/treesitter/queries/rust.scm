; pack-version: 1
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

; --- calls: each pattern captures the callee (@callee: its text; @callee_end: the text from the
;     call's start to the end of this node)
(call_expression function: (_) @callee)
(macro_invocation macro: (_) @callee)
