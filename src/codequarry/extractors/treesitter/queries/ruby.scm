; pack-version: 2
; Ruby: modules and classes qualify names (A::B); require, require_relative and load are imports.
(module name: (_) @name) @def.module
(class name: (_) @name) @def.class
(method name: (_) @name) @def.method
(singleton_method name: (_) @name) @def.method

; --- imports: @source is the module as written, @import.<kind> the statement
(call
  method: (identifier) @import_kind
  arguments: (argument_list . (string (string_content) @source))) @import.require

; --- calls: one capture per call, named for where its callee is: @call.text.F (the text of field F),
;     @call.before.F (from the call's start to field F), @call.through.F (from the call's start to F's end)
(call method: (_)) @call.through.method
