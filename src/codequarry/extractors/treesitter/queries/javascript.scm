; pack-version: 2
; JavaScript (and JSX): definitions, imports, calls.
(function_declaration name: (identifier) @name) @def.function
(generator_function_declaration name: (identifier) @name) @def.function
(class_declaration name: (identifier) @name) @def.class
(method_definition name: (_) @name) @def.method
(variable_declarator
  name: (identifier) @name
  value: [(arrow_function) (function_expression) (generator_function)]) @def.function
(variable_declarator name: (identifier) @name value: (class)) @def.class

; --- imports: @source is the module as written, @import.<kind> the statement
(import_statement source: (string (string_fragment) @source)) @import.import
(export_statement source: (string (string_fragment) @source)) @import.export
(call_expression
  function: (identifier) @import_kind
  arguments: (arguments . (string (string_fragment) @source))) @import.require
(call_expression
  function: (import)
  arguments: (arguments . (string (string_fragment) @source))) @import.dynamic

; --- calls: one capture per call, named for where its callee is: @call.text.F (the text of field F),
;     @call.before.F (from the call's start to field F), @call.through.F (from the call's start to F's end)
(call_expression) @call.text.function
(new_expression) @call.text.constructor
