; pack-version: 1
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

; --- calls: each pattern captures the callee (@callee: its text; @callee_end: the text from the
;     call's start to the end of this node)
(function_call_expression function: (_) @callee)
(member_call_expression name: (_) @callee_end)
(nullsafe_member_call_expression name: (_) @callee_end)
(scoped_call_expression name: (_) @callee_end)
(object_creation_expression [(name) (qualified_name)] @callee)
