"""Which names announce a secret (``api_key``, ``DB_PASSWORD``, ``sessionId``): one list for the
scrubbing rules and for the writer's environment allow-list. Light to import (the writer uses it)."""

from __future__ import annotations

import functools
import re
from typing import Any

# Words that make a key name a secret, and the marker type each implies.
SECRET_WORDS = {
    "password": "password", "passwd": "password", "pwd": "password", "pswd": "password", "passphrase": "password",
    "secret": "secret", "token": "token", "apikey": "api_key", "credential": "credential",
    "credentials": "credential", "auth": "auth", "authorization": "auth", "privatekey": "private_key",
    "accesskey": "access_key", "secretkey": "secret", "cookie": "cookie", "sessionid": "session",
    "signature": "signature", "sig": "signature", "secrets": "secret", "passcode": "password", "passcodes": "password",
    "passwort": "password", "privkey": "private_key", "authkey": "auth", "creds": "credential", "cred": "credential",
}
SECRET_PAIRS = {
    ("api", "key"): "api_key", ("access", "key"): "access_key", ("private", "key"): "private_key",
    ("secret", "key"): "secret", ("client", "secret"): "secret", ("session", "id"): "session",
    # a container of them (``{"api_keys": {"primary": ...}}``), as ``passwords`` and ``secrets`` are
    ("api", "keys"): "api_key", ("access", "keys"): "access_key", ("private", "keys"): "private_key",
    ("secret", "keys"): "secret", ("access", "tokens"): "token", ("refresh", "tokens"): "token",
    ("api", "tokens"): "token", ("auth", "tokens"): "token", ("bot", "tokens"): "token", ("pass", "code"): "password",
    ("priv", "key"): "private_key", ("auth", "key"): "auth",
}
#: Parts that make a one-word name a secret (``PGPASSWORD``, ``myapikey``): safe inside a word, unlike
#: ``token`` (``tokenizer``) or ``auth`` (``author``), which count only as a word's end (``githubtoken``).
SECRET_PARTS = {
    "password": "password", "passwd": "password", "passphrase": "password", "passcode": "password", "apikey": "api_key",
    "accesskey": "access_key", "privatekey": "private_key", "secretkey": "secret", "clientsecret": "secret",
}
SECRET_ENDINGS = {"token": "token", "secret": "secret", "pwd": "password"}
#: A tokenizer's special tokens (``pad_token: "[PAD]"``) are not secrets.
NOT_SECRET_BEFORE_TOKEN = frozenset({"bos", "eos", "pad", "unk", "sep", "cls", "mask", "sos", "start", "end", "begin",
                                     "image", "split"})
#: ``<word>_key`` names key material (``encryption_key``, ``AccountKey``, ``signingKey``); other keys are
#: ordinary (``sort_key``, ``primary_key``, ``cache_key``, ``key_column``, ``keyframe``).
KEY_MATERIAL = frozenset({
    "encryption", "decryption", "encrypt", "decrypt", "signing", "sign", "master", "account", "storage", "shared",
    "hmac", "jwt", "ssh", "gpg", "pgp", "aes", "crypto", "cipher", "client", "service", "deploy", "webhook", "license",
    "subscription", "consumer", "app", "application", "bot", "session", "instrumentation", "write", "admin", "root",
    "kms", "wrapping", "fernet", "dsn",
})
#: A service's key is its API key (``KAGGLE_KEY``, the Kaggle CLI's variable; ``WANDB_KEY``, ``openai_key``): the
#: services of ML jobs and their tools, and those maintained secret scanners (gitleaks) have rules for. Left
#: out: names that are ordinary words of a config (``linear``, ``square``, ``modal``, ``box``), ``s3`` (an
#: ``s3_key`` is an object's path) and ``jira`` (a ``jira_key`` is an issue's, ``PROJ-123``).
SERVICES = frozenset({
    # models, data and experiment tracking
    "kaggle", "wandb", "openai", "anthropic", "cohere", "comet", "neptune", "replicate", "groq", "mistral", "pinecone",
    "huggingface", "gemini", "serpapi", "tavily", "deepl", "roboflow", "clearml", "runpod", "fireworks", "voyage",
    "elevenlabs", "together", "perplexity", "deepseek", "langsmith", "langchain", "weaviate", "qdrant", "jina",
    "assemblyai", "deepgram", "vastai", "dagshub", "mlflow", "labelbox", "openrouter",
    # clouds, storage and code hosting
    "aws", "azure", "google", "gcp", "firebase", "alibaba", "yandex", "digitalocean", "linode", "cloudflare",
    "heroku", "netlify", "vercel", "fastly", "minio", "b2", "r2", "backblaze", "wasabi", "github", "gitlab",
    "bitbucket", "npm", "pypi", "rubygems", "docker", "dockerhub", "jfrog", "artifactory",
    # messaging, payments and operations
    "slack", "discord", "telegram", "twilio", "sendgrid", "sendinblue", "brevo", "mailgun", "mailchimp", "postmark",
    "stripe", "datadog", "algolia", "mapbox", "newrelic", "sentry", "dynatrace", "grafana", "doppler", "pulumi",
    "snyk", "sonarqube", "codecov", "circleci", "okta", "auth0", "atlassian", "confluence", "asana",
    "airtable", "notion", "hubspot", "zendesk", "intercom", "shopify", "dropbox", "twitch", "twitter", "facebook",
    "linkedin", "youtube",
    # the vendors of further gitleaks rules (red team 17), and NVIDIA's NGC and Hugging Face's short name
    "launchdarkly", "contentful", "plaid", "sumologic", "confluent", "coinbase", "sendbird", "databricks", "postman",
    "infracost", "easypost", "typeform", "vault", "travisci", "mattermost", "rapidapi", "messagebird", "hf", "ngc",
    # red team 19's leftovers: GPU clouds and databases, and AI vendors whose names hold ``ai`` (``StabilityAIKey``)
    "lambdalabs", "lambdacloud", "supabase", "stabilityai", "xai",
})
#: ``<word>_tokens`` names a list of credentials after these (``hf_tokens``, ``GH_TOKENS``, ``api_tokens``); other
#: ``tokens`` are a tokenizer's (``special_tokens``, ``stop_tokens``, ``max_new_tokens``).
TOKEN_OWNERS = frozenset({
    "hf", "huggingface", "gh", "github", "gitlab", "glpat", "npm", "pypi", "slack", "discord", "telegram", "oauth",
    "bearer", "session", "jwt", "id", "personal", "deploy", "service", "client", "cloud", "aws", "gcp", "azure",
    "openai", "anthropic", "wandb", "vault", "ci", "registry", "docker", "secret", "security", "csrf", "xsrf",
})
#: Services whose personal access token is a ``<name>_pat`` beside those of :data:`SERVICES` (Azure DevOps).
_PAT_OWNERS = frozenset({"azdo", "ado", "devops", "vsts", "gh", "glab"})
#: ``pass`` names a password only as the last word (``DB_PASS``, ``--db-pass``), not after these
#: (``first_pass``, ``two_pass``) and not before another word (``pass_at_k``); glued only after these.
NOT_SECRET_BEFORE_PASS = frozenset({"first", "second", "third", "last", "final", "single", "multi", "one", "two",
                                    "forward", "backward", "num", "n", "each", "per", "every", "eval", "train", "val",
                                    "test", "warmup", "max", "min", "by", "no", "skip"})
GLUED_PASS = frozenset({"db", "user", "mysql", "pg", "smtp", "mail", "admin", "root", "ftp", "redis", "ldap", "my", "sql",
                        "login", "app", "svc", "service", "proxy", "vnc", "rdp", "wifi", "imap", "pop",
                        # Java's keytool and jarsigner: ``-storepass``, ``-keypass``, ``-srcstorepass``, ``-destkeypass``
                        "store", "key", "srcstore", "deststore", "srckey", "destkey"})
#: A word after the secret's word that makes the name a setting about it (``auth_method: oauth``,
#: ``token_count: 512``, ``password_min_length: 12``, ``credential_provider: env``).
SETTING_AFTER = frozenset({
    "method", "methods", "mechanism", "mechanisms", "count", "counts", "length", "len", "min", "max", "minimum", "maximum", "provider",
    "providers", "type", "types", "kind", "mode", "scheme", "schemes", "enabled", "disabled", "required", "policy",
    "strategy", "backend", "timeout", "ttl", "expiry", "expires", "expiration", "limit", "limits", "size", "retries",
    "header", "url", "uri", "endpoint", "name", "names", "env", "var", "variable", "format", "encoding", "algorithm",
    "alg", "version", "interval", "period", "age", "lifetime", "duration", "seconds", "budget", "usage", "dim", "dims",
    "index", "idx", "ids", "position", "positions", "prob", "rate", "ratio", "weight", "weights", "field", "column",
    "col", "label", "prefix", "suffix", "pattern", "regex", "chars", "separator", "delimiter", "level", "levels",
    "status", "flow", "grant", "realm", "domain", "server", "service", "plugin", "handler", "class", "module",
    "rotation", "complexity", "strength", "hint", "hints", "prompt", "check", "checks", "store", "manager", "source",
    # where a secret is kept is a path, not the secret (``--password-file /run/secrets/db``, ``token_path``)
    "file", "files", "filename", "path", "paths", "dir", "directory", "folder",
    # an exception's name (``AuthorizationError: not allowed``)
    "error", "errors", "exception", "failure",
    # who issues a token and for whom, what it may do, a message's template (``Auth__Token__Issuer``,
    # ``token_audience``, ``github_token_scope``, ``password_reset_email_template``)
    "issuer", "audience", "audiences", "scope", "scopes", "template", "templates", "renewal",
    # a reference to where a secret is kept, naming no secret (Kubernetes ``secretKeyRef``, ``secretRef``)
    "ref", "refs", "reference", "references",
})
#: A word before it that makes the name a setting (``use_auth: yes``, ``num_tokens``, ``require_password``).
SETTING_BEFORE = frozenset({"use", "uses", "enable", "enabled", "disable", "disabled", "require", "requires", "required",
                            "has", "is", "no", "num", "n", "max", "min", "allow", "skip", "with", "without", "check",
                            "validate", "verify", "show", "hide", "total", "special", "count", "need", "needs"})
#: Values under a secret's name that are settings, not secrets (``use_auth: yes`` aside, ``auth: none``).
SETTING_VALUES = frozenset({"", "true", "false", "yes", "no", "on", "off", "none", "null", "nil", "~", "enabled", "disabled",
                            # where the secret comes from, not the secret (``api_key: env``, ``password: prompt``)
                            "auto", "env", "prompt", "ask", "default", "keyring", "stdin"})
#: A template's variable, as a value of its own (see :data:`ENV_REFERENCE`).
TEMPLATE_REFERENCE = re.compile(r"\$?\{\{ ?[A-Za-z_][\w.]*(?:\[['\"]?[\w.-]+['\"]?\])* ?\}\}")
#: A value that names the environment variable holding the secret (``${DB_PASSWORD}``, ``$DB_PASSWORD``,
#: ``%DB_PASSWORD%``, ``env:DB_PASSWORD``, ``os.environ/OPENAI_API_KEY``), or the AWS store that keeps it (the
#: ARN of a Secrets Manager secret, an SSM parameter or a KMS key; OmegaConf's ``${oc.env:NAME}``): a reference, not the secret.
#: (``${X`` too: a bare value in text ends before ``}``.)
ENV_REFERENCE = re.compile(r"\$\{[A-Za-z_]\w*\}?|\$[A-Za-z_]\w*|%[A-Za-z_]\w*%|env:[A-Za-z_]\w*|os\.environ/[A-Za-z_]\w*"
                           r"|arn:aws[\w-]*:(?:secretsmanager|ssm|kms):[\w-]*:\d*:[\w/:.+=@-]+"
                           # OmegaConf's resolver (``${oc.env:DB_PASSWORD}``; with a default after a comma: hidden)
                           r"|\$\{oc\.env:[A-Za-z_]\w*\}"
                           # a template's variable: GitHub Actions' ``${{ secrets.NPM_TOKEN }}``, Jinja's, Ansible's
                           # and Helm's ``{{ vault_db_password }}`` (a name only: no filter, call or literal)
                           r"|" + TEMPLATE_REFERENCE.pattern
                           # a container build's or runtime's secret by reference (Docker BuildKit ``--secret
                           # id=hf,env=HF_TOKEN``, ``src=/run/secrets/x``; Podman ``--secret db,type=env,target=X``)
                           + r"|(?:[\w.-]+,)?(?:id|src|source|env|type|target|required|uid|gid|mode)=[\w./:-]*"
                           r"(?:,(?:id|src|source|env|type|target|required|uid|gid|mode)=[\w./:-]*)*")
#: Every name :func:`secret_kind` accepts holds one of these, case aside (a test checks it): a cheap,
#: wider test for text that might name a secret.
SECRET_HINTS = ("pass", "pwd", "pswd", "secret", "token", "key", "cred", "auth", "cookie", "session", "sig")
#: ... or this, in the name as written: ``pat`` ending a word (``GITLAB_PAT``, ``gitlabPatService``; not ``PATH``
#: or ``pattern``).
PAT_HINT = re.compile(r"PAT(?=[A-Z][a-z]|[^A-Za-z]|$)|[Pp]at(?![a-z])")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_MARKERS = re.compile(r"<(?:redacted:[a-z0-9_]+|host|user)>")


def _words(name: str) -> list[str]:
    """The words of a name, split at case changes and at anything not a letter or digit."""
    return [w for w in re.split(r"[^a-z0-9]+", _CAMEL.sub("_", name).lower()) if w]


def _setting(words: list[str], first: int, last: int, start: int = 0) -> bool:
    """True when the words around ``words[first:last + 1]`` (a secret's name) make the name a setting: a
    word of :data:`SETTING_AFTER` anywhere after it, or of :data:`SETTING_BEFORE` before it in its own part
    of a qualified name (from ``words[start]``: a class or a section before a dot names no setting)."""
    return (any(w in SETTING_AFTER for w in words[last + 1:])
            or any(w in SETTING_BEFORE for w in words[start:first]))


#: What joins the parts of a qualified name (``PasswordIdentityProvider.hashed_password``,
#: ``TokenProvider__SigningKey``, ``Authentication:Google:ClientSecret``).
_QUALIFIER = re.compile(r"\.|::?|__|/|\s")


def _part_starts(key: str) -> list[int]:
    """For each word of ``key`` (as :func:`_words` splits it), the index of the first word of its part."""
    starts: list[int] = []
    for part in _QUALIFIER.split(key):
        first = len(starts)
        starts.extend([first] * len(_words(part)))
    return starts


#: The shell's working directories (``PWD=/home/alice/x`` in an environment): a path under these names
#: is no password (see :func:`shell_directory`).
SHELL_DIRECTORIES = frozenset({"PWD", "OLDPWD"})


def shell_directory(key: str, value: str) -> bool:
    """True for the shell's ``PWD``/``OLDPWD`` holding a path (``/``, ``~`` or a drive letter first)."""
    return key in SHELL_DIRECTORIES and (value[:1] in ("/", "~") or value[1:3] in (":\\", ":/"))


@functools.lru_cache(maxsize=8192)
def secret_kind(key: str) -> str | None:
    """The kind of secret a key name announces (``"password"``, ``"token"``...), or None.

    A name that holds a marker (a key scrubbed before: ``<redacted:github_token> (2)``) is judged
    without it, so redacting a record twice changes nothing.
    """
    if "<" in key:
        key = _MARKERS.sub(" ", key)
    words = _words(key)
    last = len(words) - 1
    # A secret's word that a setting's word qualifies (``TokenService``, ``PasswordIdentityProvider``) names
    # no secret itself, but a later one may (``TokenService.api_key``): every match is judged in turn.
    starts = _part_starts(key) if len(words) > 1 else [0]
    if len(starts) != len(words):  # (a name whose parts split otherwise than the whole: judged as one part)
        starts = [0] * len(words)
    qualified = False  # a secret's word found, and a setting's word qualified it
    for index, word in enumerate(words):
        kind = SECRET_WORDS.get(word)
        if kind is None and index < last:
            kind = SECRET_WORDS.get(word + words[index + 1])  # ``passPhrase``, ``Api_Key`` glued back
            end = index + 1
        else:
            end = index
        if kind is not None:
            if word == "token" and index and words[index - 1] in NOT_SECRET_BEFORE_TOKEN:
                continue
            if not _setting(words, index, end, starts[index]):
                return kind
            qualified = True
    for index, (a, b) in enumerate(zip(words, words[1:])):
        kind = (SECRET_PAIRS.get((a, b)) or ("key" if b == "key" and (a in KEY_MATERIAL or _service_ends(words, index)) else None)
                or ("token" if b == "tokens" and a in TOKEN_OWNERS else None)
                # Supabase's ``SUPABASE_SERVICE_ROLE_KEY`` (a ``role_key`` alone names a role's key in a mapping)
                or ("key" if b == "key" and a == "role" and index and words[index - 1] == "service" else None)
                # a personal access token after its service's name (``GITLAB_PAT``, ``AZDO_PAT``, ``gh_pat``)
                or ("token" if b == "pat" and (a in SERVICES or a in TOKEN_OWNERS or a in _PAT_OWNERS) else None))
        if kind is not None:
            if not _setting(words, index, index + 1, starts[index]):
                return "secret" if kind == "key" else kind
            qualified = True
    for index, word in enumerate(words):
        kind = None
        for part, found in SECRET_PARTS.items():
            if part in word:
                kind = found
                break
        else:
            for ending, found in SECRET_ENDINGS.items():
                if word.endswith(ending) and word != ending:
                    kind = found
                    break
            else:
                if word.endswith("key") and (word[:-3] in KEY_MATERIAL or is_service(word[:-3])):
                    kind = "secret"  # ``accountkey``, ``masterkey``
                elif word == "pass" and index == last and not (index and words[index - 1] in NOT_SECRET_BEFORE_PASS):
                    kind = "password"  # ``DB_PASS``, ``--db-pass``
                elif word.endswith("pass") and word[:-4] in GLUED_PASS:
                    kind = "password"  # ``DBPASS``, ``mysqlpass``
        if kind is not None:
            if not _setting(words, index, index, starts[index]):
                return kind
            qualified = True
    if not qualified and not key.islower() and not key.isupper():
        # Odd case splits a word apart (``pAsSwOrD``): the words of the name as written, case aside.
        plain = [w for w in re.split(r"[^a-z0-9]+", key.lower()) if w]
        for index, word in enumerate(plain):
            kind = SECRET_WORDS.get(word)
            if kind is None:
                kind = next((found for part, found in SECRET_PARTS.items() if part in word), None)
            if kind is not None and not _setting(plain, index, index):
                return kind
    return None


def _service_ends(words: list[str], index: int) -> bool:
    """True when a service's name ends at ``words[index]``, also one that case split in words (``OpenAIKey``:
    ``open``, ``ai``; ``GitHubKey``, ``HuggingFaceKey``, ``WandBKey``) or that its users write with ``AI``
    after it (``TogetherAIKey``, ``TOGETHERAI_KEY``, ``mistral_ai_key``)."""
    return any(is_service("".join(words[start:index + 1])) for start in range(index, max(-1, index - 4), -1))


def is_service(name: str) -> bool:
    """True when ``name`` (lower case, one word) is one of :data:`SERVICES`, or one with ``ai`` after it."""
    return name in SERVICES or (name[-2:] == "ai" and name[:-2] in SERVICES)


#: A name judged with the name before it: the key of the mapping holding it (``{"AzureOpenAI": {"Key": X}}``,
#: an ``appsettings.json`` section) or the part before it in a colon-joined key (``AzureOpenAI:Key``); alone it
#: names no secret.
BARE_KEYS = frozenset({"key", "Key", "KEY"})


def qualified_kind(key: str, before: str) -> str | None:
    """The kind of secret a bare ``key`` (:data:`BARE_KEYS`) names after ``before`` (``AzureOpenAI`` + ``Key``:
    a service's key); None for any other key, or with nothing before it."""
    return secret_kind(f"{before}_{key}") if before and key in BARE_KEYS else None


def hides(key: str, value: object, parent: str = "") -> str | None:
    """The kind of secret the value under ``key`` is, or None when it stays (scalars, settings, markers).
    ``parent``: the key of the mapping holding ``key``, which a bare ``Key`` is judged with.

    The one test of "a secret-named key holds a secret" for redaction and its gate alike.
    """
    if value is None or value.__class__ in (bool, int, float):
        return None
    kind = secret_kind(key)
    if kind is None and key in BARE_KEYS:  # (tested here first: most keys are no secret, and not bare)
        kind = qualified_kind(key, parent)
    if kind is None:
        return None
    if isinstance(value, str) and (is_setting_value(value) or value == f"<redacted:{kind}>"
                                   or shell_directory(key, value)):
        return None
    return kind


def is_setting_value(value: str) -> bool:
    """True for a value under a secret's name that is a setting, not a secret: a word of
    :data:`SETTING_VALUES` (``yes``, ``none``, ``env``, YAML's ``~``), a number (``512``; not digits with a
    leading zero, a PIN), or a reference to where the secret is kept (:data:`ENV_REFERENCE`)."""
    stripped = value.strip()
    return (stripped.lower() in SETTING_VALUES or (_NUMBER.match(value) is not None and not _PIN.match(stripped))
            or ENV_REFERENCE.fullmatch(stripped) is not None)


#: Digits with a leading zero are a PIN or a code, not a count or a length (``pin_password: 004271``).
_PIN = re.compile(r"0\d")


#: How a name/value pair spells its two keys (Kubernetes and ECS ``env``, AWS ``Key``/``Value`` tags, SSM
#: parameters, CloudFormation ``ParameterKey``/``ParameterValue``, Elastic Beanstalk ``OptionName``/``Value``).
PAIR_VALUES = ("value", "Value", "VALUE", "ParameterValue")
_PAIR_NAMES = ("name", "Name", "NAME", "key", "Key", "KEY", "ParameterKey", "OptionName")


def pair_secret(mapping: dict[str, Any]) -> tuple[str, str, str] | None:
    """``(value key, kind, name)`` when ``mapping`` is a name/value pair whose name is a secret's
    (``{"name": "DB_PASSWORD", "value": "X"}``): its value is hidden as a secret-named key's is."""
    for value_key in PAIR_VALUES:
        if value_key in mapping:
            break
    else:
        return None
    for name_key in _PAIR_NAMES:
        name = mapping.get(name_key)
        if name.__class__ is str:
            kind = hides(name, mapping[value_key])
            return None if kind is None else (value_key, kind, name)
    return None


_VERSION_VALUE = re.compile(r"^[vV]?\d+(?:\.\d+){1,5}$")


#: Last words that make a name with the word ``version`` in it an address's, not a version's
#: (``version_host``, ``version_server_ip``).
_ADDRESS_WORDS = frozenset({"host", "hosts", "hostname", "server", "servers", "ip", "ips", "addr", "address", "node",
                            "url", "uri", "endpoint"})


@functools.lru_cache(maxsize=4096)
def is_version_key(key: str) -> bool:
    """True for a key that names a version (``cudnn_version``, ``CUDNN_VER``, ``driverVersion``,
    ``version_number``, ``build``, ``release``): the word ``version`` in it (not ``conversion``,
    ``subversion``), unless an address's word ends it (``version_host``)."""
    lowered = key.lower()
    if lowered.endswith(("_ver", "-ver", "build", "release")):
        return True
    if "version" not in lowered:
        return False
    words = _words(key)
    return "version" in words and words[-1] not in _ADDRESS_WORDS


def version_kept(key: str, value: str, found: dict[str, int], parent: str = "") -> bool:
    """True when ``value`` is a version under a version-named key (``cudnn_version: 8.9.2.26``), or in a
    mapping of versions (``versions: {cudnn: 8.9.2.26}``: ``parent`` is the mapping's own key), that
    scrubbing would take for an IPv4 address: it stays."""
    return (len(found) == 1 and "ipv4" in found and _VERSION_VALUE.match(value) is not None
            and (is_version_key(key) or is_versions_mapping(parent)))


@functools.lru_cache(maxsize=1024)
def is_versions_mapping(key: str) -> bool:
    """True for the name of a mapping of versions (``versions``, ``package_versions``, ``libVersions``):
    its values are versions whatever their own keys (not ``build`` or ``release``, whose mappings hold
    anything)."""
    return key.lower().endswith("versions") and _words(key)[-1:] == ["versions"]  # not ``conversions``


@functools.lru_cache(maxsize=1024)
def is_version_flag(arg: str) -> bool:
    """True for a command-line flag whose next argument is a version (``--cudnn-version``, ``--ver``;
    not ``--release`` or ``--no-version-check``), or a version's name before a colon (``cudnn_version:``, as
    a legacy args string split like a shell leaves ``cudnn_version: 8.9.2.26``)."""
    if arg[-1:] == ":" and not arg.startswith("-"):
        return is_version_key(arg[:-1]) and arg[:-1].replace("_", "").replace("-", "").isalnum()
    name = arg.lstrip("-").lower()
    return arg.startswith("--") and (name in ("ver", "version") or name.endswith(("-version", "_version", "_ver", "-ver")))


def is_version_value(value: str) -> bool:
    """True for a dotted number such as ``9.1.0.70`` (a version, or an IPv4 address without context)."""
    return _VERSION_VALUE.match(value) is not None


_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def may_name_secret(name: str) -> bool:
    """True when ``name`` holds any of :data:`SECRET_HINTS` (wider than :func:`secret_kind`)."""
    lowered = name.lower()
    return any(hint in lowered for hint in SECRET_HINTS) or ("pat" in lowered and PAT_HINT.search(name) is not None)
