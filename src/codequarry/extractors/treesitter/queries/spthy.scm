; pack-version: 2
; Tamarin (.spthy): the theory, its rules, lemmas, restrictions and declared functions.
(theory theory_name: (ident) @name) @def.theory
(simple_rule rule_identifier: (ident) @name) @def.rule
(lemma lemma_identifier: (ident) @name) @def.lemma
(restriction restriction_identifier: (ident) @name) @def.restriction
(function_untyped function_identifier: (ident) @name) @def.function
