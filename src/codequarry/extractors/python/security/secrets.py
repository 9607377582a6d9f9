"""Whether a name or a string value looks like a secret: the heuristics of the ``hardcoded-secret``
and ``insecure-random`` rules of ``security_findings``.

Names are split into lower-case words (``apiKey`` and ``API_KEY`` -> api, key); a value counts when
it is long and random enough and not a placeholder, a URL, a path, a regex or an identifier.
"""

from __future__ import annotations

import re
from functools import lru_cache

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@lru_cache(maxsize=8192)
def name_words(name: str) -> tuple[str, ...]:
    """Lower-case words of an identifier: ``apiKey`` and ``API_KEY`` -> ('api', 'key')."""
    return tuple(w for w in _CAMEL.sub("_", name).lower().split("_") if w)


#: words that make a name secret-looking on their own
_SECRET_WORDS = frozenset(
    {
        "secret",
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "token",
        "apikey",
        "secretkey",
        "accesskey",
        "privatekey",
        "authkey",
    }
)
#: qualifiers that make "key" secret-looking (api_key, private_key, ...)
_KEY_QUALIFIERS = frozenset(
    {
        "api",
        "private",
        "access",
        "auth",
        "signing",
        "encryption",
        "secret",
        "master",
        "client",
        "license",
        "app",
    }
)
#: last words that make a name a label, not a value: PASSWORD_FIELD, TOKEN_URL, SECRET_KEY_NAME ...
_LABEL_WORDS = frozenset(
    {
        "field",
        "fields",
        "name",
        "names",
        "header",
        "headers",
        "url",
        "urls",
        "uri",
        "endpoint",
        "path",
        "paths",
        "file",
        "files",
        "filename",
        "dir",
        "env",
        "var",
        "variable",
        "param",
        "parameter",
        "prefix",
        "suffix",
        "type",
        "types",
        "kind",
        "length",
        "len",
        "min",
        "max",
        "size",
        "format",
        "fmt",
        "pattern",
        "re",
        "regex",
        "message",
        "msg",
        "label",
        "help",
        "text",
        "template",
        "id",
        "ids",
        "attr",
        "attribute",
        "column",
        "col",
        "mode",
        "policy",
        "hasher",
        "hashers",
        "validator",
        "validators",
        "chars",
        "char",
        "alphabet",
        "charset",
        "encoding",
        "algorithm",
        "algorithms",
        "algo",
        "scheme",
        "style",
        "class",
        "method",
        "placeholder",
        "hint",
        "prompt",
        "error",
        "errors",
        "title",
        "description",
        "desc",
        "lookup",
        "query",
        "widget",
        "option",
        "options",
        "flag",
        "flags",
        "cookie",
        "location",
        "storage",
        "backend",
        "backends",
        "view",
        "form",
        "input",
        "str",
        "string",
        "separator",
        "sep",
        "delimiter",
        "marker",
        "tag",
        "source",
        "index",
        "count",
        "timeout",
        "expiry",
        "expire",
        "expires",
        "age",
        "lifetime",
        "ttl",
        "version",
        "command",
        "cmd",
        "url_name",
        "route",
        "reset",
        "hash",
        "question",
        "class_name",
        "module",
        "handler",
        "callback",
        "func",
        "function",
        "keyword",
        "state",
        "status",
        "enabled",
        "required",
        "changed",
        "set",
    }
)
#: names used for tokens of a tokenizer or parser (a token's text is not a secret)
_TOKEN_PARSE = frozenset({"tok", "toktype", "tokentype", "token_type", "tokname"})


@lru_cache(maxsize=16384)
def secret_name(name: str) -> bool:
    """Whether a variable, attribute, keyword or dict key name looks like it holds a credential."""
    words = name_words(name)
    if not words or words[-1] in _LABEL_WORDS or name.lower() in _TOKEN_PARSE:
        return False
    for i, w in enumerate(words):
        if w in _SECRET_WORDS:
            return True
        if w == "key" and i and words[i - 1] in _KEY_QUALIFIERS:
            return True
    return False


@lru_cache(maxsize=16384)
def secret_word(name: str) -> bool:
    """The test of insecure-random: a word token, secret, password, nonce, salt, otp, csrf, pin, iv...,
    or a qualified key (``api_key``, ``secretKey``; a bare ``key`` is a dict or sort key)."""
    words = name_words(name)
    for i, w in enumerate(words):
        if w in _RANDOM_WORDS or (w == "key" and i and words[i - 1] in _KEY_QUALIFIERS):
            return True
    return False


_RANDOM_WORDS = frozenset(
    {
        "token",
        "tokens",
        "secret",
        "password",
        "passwd",
        "pwd",
        "nonce",
        "salt",
        "otp",
        "csrf",
        "apikey",
        "secretkey",
        "privatekey",
        "accesskey",
        "authkey",
        "passphrase",
        "pin",
        "iv",
    }
)

_PLACEHOLDER = re.compile(
    r"""^(?:
        [xX*.\-_#?0]+                      # xxxx, ****, ----, 0000
      | <[^>]*>                            # <your-token>
      | \$\{[^}]*\}|\$[A-Z_][A-Z0-9_]*     # ${TOKEN}, $TOKEN
      | \{\{[^}]*\}\}|\{[^}]*\}            # {{ token }}, {token}
      | %\([^)]*\)[sd]|%s                  # %(password)s
      | (?:change|replace)[-_ ]?(?:me|it|this)|todo|fixme|tbd|none|null|nil|undefined|placeholder
      | dummy|example|sample|redacted|hidden|notset|not[-_ ]set|unset|default|empty|yes|no|true|false|on|off
      | test|testing|foo|bar|baz|foobar|fake|mock|secret|password
      | __\w+__                            # __PLACEHOLDER__
      | .*\*{3,}.*                          # masked: ":****"
      | your[-_ ].*|my[-_ ].*|insert[-_ ].*|enter[-_ ].*
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
_URL_OR_PATH = re.compile(r"^(?:[a-z][a-z0-9+.-]*://[^@]*|/|\./|\.\./|~/)", re.IGNORECASE)


def secret_value(value: str, name: str) -> bool:
    """Whether a string literal assigned to a secret-looking ``name`` may be a real secret."""
    v = value.strip()
    if (
        len(v) < 3
        or any(c.isspace() for c in v)
        or _PLACEHOLDER.match(v)
        or _URL_OR_PATH.match(v)
        or _REGEX.search(v)
    ):
        return False
    # the value names a field rather than filling it: "password", "X-Auth-Token", "set-password"
    if any(w in _NAMING_WORDS for w in _value_words(v)):
        return False
    # a name matched only through "key" (API_KEY, PRIVATE_KEY) holding a lower-case identifier is a
    # lookup key, not key material: SESSION_KEY = "_auth_user_id"
    words = name_words(name)
    if _IDENTIFIER.match(v) and not any(w in _SECRET_WORDS for w in words):
        return False
    # a name matched only through "token" holds a marker or a grammar token unless the value looks
    # generated: TOKEN = "relationship" and _DEFAULT_TOKEN = "_sa_default" are not credentials
    return any(w in _CREDENTIAL_WORDS for w in words) or (len(v) >= 8 and any(c.isdigit() for c in v))


_NAMING_WORDS = _SECRET_WORDS | {"key", "auth", "credential", "credentials", "csrftoken"}
_IDENTIFIER = re.compile(r"_*[a-z][a-z0-9_]*$")
#: words that name a credential a person chose (any value counts), unlike generated tokens and keys
_CREDENTIAL_WORDS = frozenset({"secret", "password", "passwd", "pwd", "passphrase", "secretkey"})
#: a regular expression, not a secret: character classes with quantifiers, groups, escapes, anchors
_REGEX = re.compile(r"\[[^\[\]]*\][+*?{]|\(\?|\\[dswbDSWB]|^\^|\$$")
_VALUE_SPLIT = re.compile(r"[^A-Za-z0-9]+")


def _value_words(value: str) -> list[str]:
    words: list[str] = []
    for part in _VALUE_SPLIT.split(value):
        if part:
            words.extend(name_words(part) if len(part) < 64 else (part.lower(),))
    return words
