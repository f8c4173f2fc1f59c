use std::collections::HashSet;

use secrecy::{ExposeSecret, SecretString};

use super::values::{is_loopback, one_secret};
use super::{Config, ConfigError, MailboxConfig, TlsMode};

/// Checks what the types cannot, and resolves passwords from files and variables.
pub(super) fn check(config: &mut Config) -> Result<(), ConfigError> {
    check_store(config)?;
    if config.daemon.shutdown_timeout_secs == 0 {
        return Err(ConfigError::invalid("daemon.shutdown_timeout_secs", "must be at least 1"));
    }
    check_desk(config)?;
    check_departments(config)?;
    check_routing(config)?;
    super::trust::check(config)?;
    super::retention::check(&config.retention)?;
    super::oauth::check(config)?;
    check_ingest(config)?;
    check_outbox(config)?;
    super::web::check(&config.web)?;
    super::form::check(config)?;
    super::retire::check_report(&config.report)?;
    let departments: Vec<String> = config.departments.iter().map(|d| d.id.to_string()).collect();
    if let Some(default) = &config.desk.default_department
        && !departments.iter().any(|d| d == default.as_str())
    {
        return Err(ConfigError::invalid(
            "desk.default_department",
            format!("unknown department `{default}` (defined: {})", departments.join(", ")),
        ));
    }
    let mut names = HashSet::new();
    for (index, mailbox) in config.mailboxes.iter_mut().enumerate() {
        let key = format!("mailboxes[{index}]");
        if !names.insert(mailbox.name.clone()) {
            return Err(ConfigError::invalid(format!("{key}.name"), format!("`{}` is used twice", mailbox.name)));
        }
        check_mailbox(&key, mailbox, &departments)?;
        super::retire::check_mailbox(&key, mailbox)?;
    }
    if let Some(smtp) = config.smtp.as_mut() {
        if smtp.tls == TlsMode::None && !is_loopback(&smtp.host) {
            return Err(ConfigError::invalid(
                "smtp.tls",
                format!(
                    "`none` sends passwords and mail in clear text; it is allowed only to a loopback host, not `{}`",
                    smtp.host
                ),
            ));
        }
        if let Some(password) = read_password_file("smtp", smtp.password.is_some(), smtp.password_file.as_deref())? {
            smtp.password = Some(password);
        }
    }
    Ok(())
}

fn check_store(config: &Config) -> Result<(), ConfigError> {
    let url = config.store.url.expose();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        postgres_tls(url, config.store.allow_plaintext)?;
    } else if !url.starts_with("sqlite:") {
        return Err(ConfigError::invalid(
            "store.url",
            format!("`{}` is neither `sqlite://PATH` nor `postgres://…`", config.store.url),
        ));
    }
    if config.store.max_connections == 0 {
        return Err(ConfigError::invalid("store.max_connections", "must be at least 1"));
    }
    if config.store.mailbox_lease_secs < 3 {
        return Err(ConfigError::invalid("store.mailbox_lease_secs", "must be at least 3"));
    }
    if config.store.acquire_timeout_secs == 0 {
        return Err(ConfigError::invalid("store.acquire_timeout_secs", "must be at least 1"));
    }
    Ok(())
}

/// A PostgreSQL server on another host is reached over TLS (`sslmode` require,
/// verify-ca or verify-full), unless the operator allows clear text. The URL is read
/// as sqlx reads it, so `PGSSLMODE` and `host=` count as they will when connecting.
fn postgres_tls(url: &str, allow_plaintext: bool) -> Result<(), ConfigError> {
    use sqlx::postgres::{PgConnectOptions, PgSslMode};
    let options: PgConnectOptions = url
        .parse()
        .map_err(|e| ConfigError::invalid("store.url", format!("not a PostgreSQL URL sqlx can read: {e}")))?;
    let local =
        options.get_socket().is_some() || options.get_host().starts_with('/') || is_loopback(options.get_host());
    let encrypted = matches!(options.get_ssl_mode(), PgSslMode::Require | PgSslMode::VerifyCa | PgSslMode::VerifyFull);
    if local || encrypted || allow_plaintext {
        return Ok(());
    }
    Err(ConfigError::invalid(
        "store.url",
        format!(
            "`{}` may send the database password and every mail in clear text; add \
             `sslmode=verify-full&sslrootcert=/path/to/ca.pem` (or `sslmode=require`), \
             or set `store.allow_plaintext = true`",
            options.get_host()
        ),
    ))
}

fn check_desk(config: &mut Config) -> Result<(), ConfigError> {
    let desk = &mut config.desk;
    if desk.name.trim().is_empty() {
        return Err(ConfigError::invalid("desk.name", "is empty"));
    }
    super::web::check_base_url(&desk.base_url)?;
    desk.base_url = desk.base_url.trim_end_matches('/').to_owned();
    let prefix = &desk.ticket_prefix;
    if prefix.is_empty() || prefix.len() > 16 || !prefix.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ConfigError::invalid("desk.ticket_prefix", "use 1 to 16 letters or digits, like `SD`"));
    }
    desk.ticket_prefix = prefix.to_ascii_uppercase();
    let file = desk.secret_file.as_deref();
    if let Some(secret) = one_secret("desk.secret", desk.secret.take(), file, desk.secret_env.as_deref())? {
        if secret.expose_secret().len() < 32 {
            return Err(ConfigError::invalid(
                "desk.secret",
                "must be at least 32 characters (`openssl rand -hex 32` makes one)",
            ));
        }
        desk.secret = Some(secret);
    }
    Ok(())
}

fn check_departments(config: &Config) -> Result<(), ConfigError> {
    if config.departments.is_empty() {
        return Err(ConfigError::invalid("departments", "at least one department is needed"));
    }
    let mut seen = HashSet::new();
    for (index, department) in config.departments.iter().enumerate() {
        if !seen.insert(&department.id) {
            return Err(ConfigError::invalid(
                format!("departments[{index}].id"),
                format!("`{}` is used twice", department.id),
            ));
        }
    }
    Ok(())
}

fn check_routing(config: &Config) -> Result<(), ConfigError> {
    let routing = &config.routing;
    for (key, value) in [
        ("min_confidence", routing.min_confidence),
        ("reroute_confidence", routing.reroute_confidence),
        ("confidential_confidence", routing.confidential_confidence),
    ] {
        if !(0.0..=1.0).contains(&value) {
            return Err(ConfigError::invalid(format!("routing.{key}"), "must be between 0 and 1"));
        }
    }
    if routing.max_own_examples == 0 {
        return Err(ConfigError::invalid("routing.max_own_examples", "must be 1 or more"));
    }
    if routing.reroute_confidence < routing.min_confidence {
        return Err(ConfigError::invalid("routing.reroute_confidence", "must not be below routing.min_confidence"));
    }
    if routing.confidential_confidence < routing.reroute_confidence {
        return Err(ConfigError::invalid(
            "routing.confidential_confidence",
            "must not be below routing.reroute_confidence",
        ));
    }
    for (index, department) in config.departments.iter().enumerate() {
        let mut seen = HashSet::new();
        for (c, category) in department.categories.iter().enumerate() {
            if !seen.insert(category.id.as_str()) {
                return Err(ConfigError::invalid(
                    format!("departments[{index}].categories[{c}].id"),
                    format!("`{}` is used twice", category.id),
                ));
            }
        }
    }
    let departments: Vec<&str> = config.departments.iter().map(|d| d.id.as_str()).collect();
    for (index, rule) in routing.rules.iter().enumerate() {
        let key = |field: &str| format!("routing.rules[{index}].{field}");
        if rule.department.is_none() && rule.category.is_none() {
            return Err(ConfigError::invalid(key("department"), "a rule sets a department, a category or both"));
        }
        if let Some(department) = &rule.department
            && !config.departments.iter().any(|d| &d.id == department)
        {
            return Err(ConfigError::invalid(
                key("department"),
                format!("unknown department `{department}` (defined: {})", departments.join(", ")),
            ));
        }
        if let Some(category) = &rule.category {
            let owners: Vec<&str> = config
                .departments
                .iter()
                .filter(|d| rule.department.as_ref().is_none_or(|r| *r == d.id))
                .filter(|d| d.categories.iter().any(|c| &c.id == category))
                .map(|d| d.id.as_str())
                .collect();
            match owners.len() {
                0 => {
                    return Err(ConfigError::invalid(
                        key("category"),
                        format!("no department has category `{category}`"),
                    ));
                }
                1 => {}
                _ => {
                    return Err(ConfigError::invalid(
                        key("category"),
                        format!("`{category}` is a category of {}; name the department too", owners.join(" and ")),
                    ));
                }
            }
        }
        let conditions = [&rule.from, &rule.to, &rule.subject, &rule.body].iter().filter(|c| c.is_some()).count();
        if conditions == 0 && rule.keywords.is_empty() {
            return Err(ConfigError::invalid(
                key("keywords"),
                "a rule needs a condition: from, to, subject, body or keywords",
            ));
        }
    }
    Ok(())
}

fn check_ingest(config: &Config) -> Result<(), ConfigError> {
    let ingest = &config.ingest;
    if ingest.batch_size == 0 || ingest.batch_size > 5000 {
        return Err(ConfigError::invalid("ingest.batch_size", "must be between 1 and 5000"));
    }
    if ingest.max_message_bytes < 1024 {
        return Err(ConfigError::invalid("ingest.max_message_bytes", "must be at least 1024"));
    }
    if ingest.parse_timeout_ms == 0 {
        return Err(ConfigError::invalid("ingest.parse_timeout_ms", "must be at least 1"));
    }
    if ingest.max_store_attempts == 0 {
        return Err(ConfigError::invalid("ingest.max_store_attempts", "must be at least 1"));
    }
    Ok(())
}

fn check_outbox(config: &Config) -> Result<(), ConfigError> {
    let outbox = &config.outbox;
    if outbox.retry_base_secs == 0 {
        return Err(ConfigError::invalid("outbox.retry_base_secs", "must be at least 1"));
    }
    if outbox.retry_for_hours == 0 {
        return Err(ConfigError::invalid("outbox.retry_for_hours", "must be at least 1"));
    }
    if outbox.keep_failed_days == 0 {
        return Err(ConfigError::invalid("outbox.keep_failed_days", "must be at least 1"));
    }
    if !(1..=64).contains(&outbox.connections) {
        return Err(ConfigError::invalid("outbox.connections", "must be from 1 to 64"));
    }
    if outbox.max_attachment_bytes < 1024 {
        return Err(ConfigError::invalid("outbox.max_attachment_bytes", "must be at least 1024"));
    }
    Ok(())
}

fn check_mailbox(key: &str, mailbox: &mut MailboxConfig, departments: &[String]) -> Result<(), ConfigError> {
    if let Some(department) = &mailbox.department
        && !departments.iter().any(|d| d == department.as_str())
    {
        return Err(ConfigError::invalid(
            format!("{key}.department"),
            format!("unknown department `{department}` (defined: {})", departments.join(", ")),
        ));
    }
    match (&mailbox.host, &mailbox.maildir) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::invalid(key, "set either `host` (IMAP) or `maildir`, not both"));
        }
        (None, None) => return Err(ConfigError::invalid(key, "set `host` (IMAP) or `maildir`")),
        (None, Some(_)) => return Ok(()),
        (Some(_), None) => {}
    }
    let host = mailbox.host.as_deref().unwrap_or_default();
    if mailbox.tls == TlsMode::None && !is_loopback(host) {
        return Err(ConfigError::invalid(
            format!("{key}.tls"),
            format!("`none` sends the password in clear text; it is allowed only to a loopback host, not `{host}`"),
        ));
    }
    if mailbox.username.as_deref().is_none_or(str::is_empty) {
        return Err(ConfigError::invalid(format!("{key}.username"), "is required for an IMAP mailbox"));
    }
    if mailbox.processed_folder.is_some() && mailbox.processed_flag.is_some() {
        return Err(ConfigError::invalid(
            format!("{key}.processed_flag"),
            "set either `processed_folder` or `processed_flag`",
        ));
    }
    if !(60..=29 * 60).contains(&mailbox.idle_timeout_secs) {
        return Err(ConfigError::invalid(
            format!("{key}.idle_timeout_secs"),
            "must be between 60 and 1740 (servers drop idle clients after 30 minutes)",
        ));
    }
    if mailbox.poll_interval_secs == 0 || mailbox.command_timeout_secs == 0 {
        return Err(ConfigError::invalid(
            format!("{key}.poll_interval_secs"),
            "intervals and timeouts must be at least 1 second",
        ));
    }
    let has_password = mailbox.password.is_some();
    if let Some(password) = read_password_file(key, has_password, mailbox.password_file.as_deref())? {
        mailbox.password = Some(password);
    }
    if let Some(variable) = &mailbox.password_env {
        if mailbox.password.is_some() {
            return Err(ConfigError::invalid(
                format!("{key}.password_env"),
                "set only one of `password`, `password_file` and `password_env`",
            ));
        }
        let value = std::env::var(variable).map_err(|_| {
            ConfigError::invalid(
                format!("{key}.password_env"),
                format!("the environment variable `{variable}` is not set"),
            )
        })?;
        mailbox.password = Some(SecretString::from(value));
    }
    if mailbox.password.is_none() && !mailbox.auth.uses_oauth() {
        return Err(ConfigError::invalid(
            format!("{key}.password"),
            "an IMAP mailbox needs `password`, `password_file` or `password_env`",
        ));
    }
    Ok(())
}

fn read_password_file(
    key: &str,
    has_password: bool,
    file: Option<&std::path::Path>,
) -> Result<Option<SecretString>, ConfigError> {
    let Some(file) = file else { return Ok(None) };
    if has_password {
        return Err(ConfigError::invalid(format!("{key}.password_file"), "set either `password` or `password_file`"));
    }
    let text = std::fs::read_to_string(file).map_err(|e| {
        ConfigError::invalid(format!("{key}.password_file"), format!("cannot read {}: {e}", file.display()))
    })?;
    Ok(Some(SecretString::from(text.trim_end_matches(['\r', '\n']).to_owned())))
}

#[cfg(test)]
mod tests {
    use super::super::load_str;

    use super::super::TEST_BASE as BASE;

    fn error_of(extra: &str) -> String {
        load_str(&format!("{BASE}{extra}")).unwrap_err().to_string()
    }

    #[test]
    fn the_acknowledgements_language_is_read_once_and_a_wrong_one_names_its_key() {
        let config = load_str(&format!("{BASE}[ack]\ndefault_language = \"nl\"\n")).expect("valid");
        assert_eq!(config.ack.default_language, crate::domain::Language::Nl);
        let error = error_of("[ack]\ndefault_language = \"de\"\n");
        assert!(error.contains("ack.default_language") && error.contains("`de`"), "{error}");
    }

    #[test]
    fn routing_rules_and_thresholds_are_checked_with_their_keys() {
        let rule = |body: &str| format!("[[routing.rules]]\nname = \"r\"\n{body}\n");
        let error = error_of(&rule("department = \"it\"\nsubject = \"(unclosed\""));
        assert!(error.contains("routing.rules[0].subject") && error.contains("regex"), "{error}");
        let error = error_of(&rule("department = \"hrr\"\nkeywords = [\"x\"]"));
        assert!(error.contains("routing.rules[0].department") && error.contains("hrr"), "{error}");
        let error = error_of(&rule("category = \"phone\"\nkeywords = [\"x\"]"));
        assert!(error.contains("routing.rules[0].category"), "{error}");
        let error = error_of(&rule("department = \"it\""));
        assert!(error.contains("needs a condition"), "{error}");
        let error = error_of("[routing]\nmin_confidence = 0.9\nreroute_confidence = 0.6\n");
        assert!(error.contains("routing.reroute_confidence"), "{error}");
        let error = error_of("[routing]\nmin_confidence = 1.5\n");
        assert!(error.contains("routing.min_confidence"), "{error}");
        let error = error_of("[routing]\nconfidential_confidence = 0.7\n");
        assert!(error.contains("routing.confidential_confidence"), "{error}");
        let error = error_of("[routing]\nmax_own_examples = 0\n");
        assert!(error.contains("routing.max_own_examples"), "{error}");
    }

    #[test]
    fn outbox_connections_must_be_between_one_and_sixty_four() {
        for wrong in ["0", "65"] {
            let error = error_of(&format!("[outbox]\nconnections = {wrong}\n"));
            assert!(error.contains("outbox.connections"), "{error}");
        }
        let config = load_str(&format!("{BASE}[outbox]\nconnections = 64\n")).unwrap();
        assert_eq!(config.outbox.connections, 64);
    }

    #[test]
    fn an_unknown_department_is_named_with_its_key() {
        let error = error_of("[[mailboxes]]\nname = \"hr-old\"\ndepartment = \"hrr\"\nmaildir = \"/tmp/x\"\n");
        assert!(error.contains("mailboxes[0].department"), "{error}");
        assert!(error.contains("hrr"), "{error}");
    }

    #[test]
    fn clear_text_imap_to_a_remote_host_is_refused() {
        let error = error_of(
            "[[mailboxes]]\nname = \"it-old\"\ndepartment = \"it\"\nhost = \"imap.example.org\"\ntls = \"none\"\nusername = \"u\"\npassword = \"p\"\n",
        );
        assert!(error.contains("mailboxes[0].tls"), "{error}");
    }

    #[test]
    fn an_imap_mailbox_without_a_password_is_refused() {
        let error =
            error_of("[[mailboxes]]\nname = \"it-old\"\ndepartment = \"it\"\nhost = \"127.0.0.1\"\nusername = \"u\"\n");
        assert!(error.contains("mailboxes[0].password"), "{error}");
    }

    #[test]
    fn a_misspelt_key_is_named() {
        let error = error_of(
            "[[mailboxes]]\nname = \"it-old\"\ndepartment = \"it\"\nmaildir = \"/tmp/x\"\nfoldr = \"INBOX\"\n",
        );
        assert!(error.contains("foldr"), "{error}");
    }

    #[test]
    fn a_wrong_type_is_named_with_its_key() {
        let error =
            error_of("[[mailboxes]]\nname = \"it-old\"\ndepartment = \"it\"\nhost = \"127.0.0.1\"\nport = \"imap\"\n");
        assert!(error.contains("port"), "{error}");
    }

    #[test]
    fn a_postgres_server_elsewhere_without_tls_is_refused_unless_allowed() {
        let store = |url: &str, extra: &str| format!("[store]\nurl = \"{url}\"\n{extra}\n");
        for url in ["postgres://loket:pw@db.example.org/loket", "postgres://loket:pw@10.0.0.5/loket?sslmode=prefer"] {
            let error = error_of(&store(url, ""));
            assert!(error.contains("store.url") && error.contains("allow_plaintext"), "{error}");
            assert!(!error.contains("pw@"), "the password is not shown: {error}");
        }
        for (url, extra) in [
            ("postgres://loket:pw@db.example.org/loket?sslmode=verify-full&sslrootcert=/etc/loket/ca.pem", ""),
            ("postgres://loket:pw@db.example.org/loket?sslmode=require", ""),
            ("postgres://loket:pw@127.0.0.1:5432/loket", ""),
            ("postgres:///loket?host=/run/postgresql", ""),
            ("postgres://loket:pw@db.example.org/loket", "allow_plaintext = true"),
        ] {
            load_str(&format!("{}{BASE}", store(url, extra))).unwrap_or_else(|e| panic!("{url}: {e}"));
        }
    }

    #[test]
    fn a_wrong_store_url_is_shown_without_its_password() {
        let error = error_of("[store]\nurl = \"postgress://loket:Pg-Secret-123@db/loket\"\n");
        assert!(error.contains("store.url") && error.contains("postgress://loket:***@db/loket"), "{error}");
    }

    #[test]
    fn the_signing_secret_comes_from_one_file_or_variable_and_is_long_enough() {
        use secrecy::ExposeSecret;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "0123456789abcdef0123456789abcdef-from-file\n").unwrap();
        let desk = |line: String| BASE.replace("[desk]\n", &format!("[desk]\n{line}\n"));
        let config = load_str(&desk(format!("secret_file = \"{}\"", file.display()))).unwrap();
        let secret = config.desk.secret.as_ref().map(|s| s.expose_secret().to_owned());
        assert_eq!(secret.as_deref(), Some("0123456789abcdef0123456789abcdef-from-file"));
        assert!(!format!("{config:?}").contains("from-file"));

        let both = load_str(&desk(format!("secret = \"{}\"\nsecret_file = \"{}\"", "x".repeat(40), file.display())));
        assert!(both.unwrap_err().to_string().contains("desk.secret"));
        let missing = load_str(&desk("secret_env = \"LOKET_TEST_NO_SUCH_VARIABLE\"".into())).unwrap_err().to_string();
        assert!(missing.contains("desk.secret_env") && missing.contains("LOKET_TEST_NO_SUCH_VARIABLE"), "{missing}");
        let short = load_str(&desk("secret = \"short\"".into())).unwrap_err().to_string();
        assert!(short.contains("desk.secret") && short.contains("32"), "{short}");
    }
}
