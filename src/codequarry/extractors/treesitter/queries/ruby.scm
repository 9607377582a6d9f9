; pack-version: 1
; Ruby: modules and classes qualify names (A::B); require, require_relative and load are imports.
(module name: (_) @name) @def.module
(class name: (_) @name) @def.class
(method name: (_) @name) @def.method
(singleton_method name: (_) @name) @def.method

; --- imports: @source is the module as written, @import.<kind> the statement
(call
  method: (identifier) @import_kind
  arguments: (argument_list . (string (string_content) @source))) @import.require

; --- calls: each pattern captures the callee (@callee: its text; @callee_end: the text from the
;     call's start to the end of this node)
(call method: (_) @callee_end)
