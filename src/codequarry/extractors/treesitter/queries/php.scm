; pack-version: 2
; PHP: the namespace qualifies names (App\Models\User::save); use, include and require are imports.
(namespace_definition name: (namespace_name) @package)
(function_definition name: (name) @name) @def.function
(class_declaration name: (name) @name) @def.class
(interface_declaration name: (name) @name) @def.interface
(trait_declaration name: (name) @name) @def.trait
(enum_declaration name: (name) @name) @def.enum
(method_declaration name: (name) @name) @def.method

; --- imports: @source is the module as written, @import.<kind> the statement
(namespace_use_clause [(name) (qualified_name)] @source) @import.use
(include_expression (_) @source) @import.include
(include_once_expression (_) @source) @import.include_once
(require_expression (_) @source) @import.require
(require_once_expression (_) @source) @import.require_once

; --- calls: one capture per call, named for where its callee is: @call.text.F (the text of field F),
;     @call.before.F (from the call's start to field F), @call.through.F (from the call's start to F's end)
(function_call_expression) @call.text.function
(member_call_expression) @call.through.name
(nullsafe_member_call_expression) @call.through.name
(scoped_call_expression) @call.through.name
(object_creation_expression) @call.before.arguments
