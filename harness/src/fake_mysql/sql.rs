//! Parser for exactly the SQL subset the controller and sidecar send. Anything else fails
//! loudly with error 1064 naming the statement, so a new statement in production code never
//! silently succeeds against the fake.

use bloodraven::sql::SqlError;

/// A system variable the fake knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Var {
    ReadOnly,
    SuperReadOnly,
    GtidExecuted,
    ServerUuid,
    ServerId,
    Hostname,
}

impl Var {
    fn from_name(name: &str) -> Option<Var> {
        Some(match name.to_ascii_lowercase().as_str() {
            "read_only" => Var::ReadOnly,
            "super_read_only" => Var::SuperReadOnly,
            "gtid_executed" => Var::GtidExecuted,
            "server_uuid" => Var::ServerUuid,
            "server_id" => Var::ServerId,
            "hostname" => Var::Hostname,
            _ => return None,
        })
    }
}

/// One expression of a `SELECT` list.
#[derive(Clone, Debug, PartialEq)]
pub enum SelectExpr {
    Var(Var),
    ConnectionId,
    GtidSubset(String, String),
    /// `WAIT_FOR_EXECUTED_GTID_SET(set, timeout)`; timeout 0 (or absent) waits forever.
    WaitForExecutedGtidSet(String, f64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct SelectItem {
    pub expr: SelectExpr,
    /// Result column name: the item as written, or its alias.
    pub column: String,
}

/// Options of `CHANGE REPLICATION SOURCE TO` (only those given are `Some`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChangeSource {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub auto_position: Option<bool>,
    pub get_public_key: Option<bool>,
}

/// Which replication threads a START/STOP REPLICA addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    Both,
    Io,
    Sql,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    Select(Vec<SelectItem>),
    SetGlobal {
        var: Var,
        on: bool,
    },
    ShowReplicaStatus,
    ShowProcesslist,
    StartReplica(Threads),
    StopReplica(Threads),
    ResetReplicaAll,
    ChangeSource(ChangeSource),
    Kill(u64),
    Insert(u64),
    SelectCount,
    SelectIds,
    Clone {
        user: String,
        host: String,
        port: u16,
        password: String,
    },
    /// `SET GLOBAL clone_valid_donor_list = 'host:port[,host:port...]'`.
    SetCloneDonorList(String),
}

/// Every value [`Stmt::kind`] returns (fault injection names statements by kind).
pub const STMT_KINDS: &[&str] = &[
    "select",
    "wait_for_executed_gtid_set",
    "set_super_read_only",
    "set_read_only",
    "show_replica_status",
    "show_processlist",
    "start_replica",
    "stop_replica",
    "reset_replica_all",
    "change_replication_source",
    "kill",
    "insert",
    "select_counter",
    "clone",
    "set_clone_valid_donor_list",
];

impl Stmt {
    /// The statement kind, the key of the engine's fault knobs (`fail_next`,
    /// `ambiguous_next`): `select`, `wait_for_executed_gtid_set`, `set_read_only`,
    /// `set_super_read_only`, `show_replica_status`, `show_processlist`, `start_replica`,
    /// `stop_replica`, `reset_replica_all`, `change_replication_source`, `kill`, `insert`,
    /// `select_counter`, `clone`, `set_clone_valid_donor_list`.
    pub fn kind(&self) -> &'static str {
        match self {
            Stmt::Select(items) => {
                if items
                    .iter()
                    .any(|i| matches!(i.expr, SelectExpr::WaitForExecutedGtidSet(..)))
                {
                    "wait_for_executed_gtid_set"
                } else {
                    "select"
                }
            }
            Stmt::SetGlobal {
                var: Var::SuperReadOnly,
                ..
            } => "set_super_read_only",
            Stmt::SetGlobal { .. } => "set_read_only",
            Stmt::ShowReplicaStatus => "show_replica_status",
            Stmt::ShowProcesslist => "show_processlist",
            Stmt::StartReplica(_) => "start_replica",
            Stmt::StopReplica(_) => "stop_replica",
            Stmt::ResetReplicaAll => "reset_replica_all",
            Stmt::ChangeSource(_) => "change_replication_source",
            Stmt::Kill(_) => "kill",
            Stmt::Insert(_) => "insert",
            Stmt::SelectCount | Stmt::SelectIds => "select_counter",
            Stmt::Clone { .. } => "clone",
            Stmt::SetCloneDonorList(_) => "set_clone_valid_donor_list",
        }
    }

    /// Whether the statement changes state (recorded as a `Mutation` in the trace).
    pub fn is_mutation(&self) -> bool {
        !matches!(
            self,
            Stmt::Select(_)
                | Stmt::ShowReplicaStatus
                | Stmt::ShowProcesslist
                | Stmt::SelectCount
                | Stmt::SelectIds
        )
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(String),
    Sym(char),
}

#[derive(Clone, Debug)]
struct Lexed {
    tok: Tok,
    start: usize,
    end: usize,
}

fn syntax(sql: &str) -> SqlError {
    SqlError::new(
        1064,
        format!(
            "You have an error in your SQL syntax; statement not supported by the fake engine: {}",
            sql.trim()
        ),
    )
}

fn lex(src: &str) -> Option<Vec<Lexed>> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let is_word =
        |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'@' || c == b'$';
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'\'' || c == b'"' {
            let q = c;
            let mut s = String::new();
            i += 1;
            loop {
                if i >= b.len() {
                    return None;
                }
                if b[i] == b'\\' && i + 1 < b.len() {
                    s.push(b[i + 1] as char);
                    i += 2;
                } else if b[i] == q {
                    if i + 1 < b.len() && b[i + 1] == q {
                        s.push(q as char);
                        i += 2;
                    } else {
                        i += 1;
                        break;
                    }
                } else {
                    // Copy one UTF-8 character.
                    let ch = src[i..].chars().next()?;
                    s.push(ch);
                    i += ch.len_utf8();
                }
            }
            out.push(Lexed {
                tok: Tok::Str(s),
                start,
                end: i,
            });
        } else if c == b'`' {
            let close = src[i + 1..].find('`')? + i + 1;
            out.push(Lexed {
                tok: Tok::Word(src[i + 1..close].to_string()),
                start,
                end: close + 1,
            });
            i = close + 1;
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            out.push(Lexed {
                tok: Tok::Num(src[start..i].to_string()),
                start,
                end: i,
            });
        } else if c == b'@'
            && b.get(i + 1)
                .is_some_and(|&n| n == b'\'' || n == b'"' || n == b'`')
        {
            out.push(Lexed {
                tok: Tok::Sym('@'),
                start,
                end: i + 1,
            });
            i += 1;
        } else if is_word(c) {
            while i < b.len() && is_word(b[i]) {
                i += 1;
            }
            out.push(Lexed {
                tok: Tok::Word(src[start..i].to_string()),
                start,
                end: i,
            });
        } else if c.is_ascii() {
            out.push(Lexed {
                tok: Tok::Sym(c as char),
                start,
                end: i + 1,
            });
            i += 1;
        } else {
            return None;
        }
    }
    Some(out)
}

struct P<'a> {
    src: &'a str,
    toks: Vec<Lexed>,
    pos: usize,
}

impl P<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|l| &l.tok)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|l| l.tok.clone());
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    /// Consumes the keyword if it is next.
    fn kw(&mut self, k: &str) -> bool {
        match self.peek() {
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    fn kws(&mut self, ks: &[&str]) -> bool {
        let save = self.pos;
        for k in ks {
            if !self.kw(k) {
                self.pos = save;
                return false;
            }
        }
        true
    }

    fn sym(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Sym(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn string(&mut self) -> Option<String> {
        match self.peek() {
            Some(Tok::Str(s)) => {
                let s = s.clone();
                self.pos += 1;
                Some(s)
            }
            _ => None,
        }
    }

    fn number(&mut self) -> Option<String> {
        match self.peek() {
            Some(Tok::Num(s)) => {
                let s = s.clone();
                self.pos += 1;
                Some(s)
            }
            _ => None,
        }
    }

    fn int(&mut self) -> Option<u64> {
        self.number()?.parse().ok()
    }

    /// Source text between token indexes `from` (inclusive) and `to` (exclusive).
    fn text(&self, from: usize, to: usize) -> String {
        if from >= to {
            return String::new();
        }
        self.src[self.toks[from].start..self.toks[to - 1].end].to_string()
    }
}

/// Parses one statement. Unsupported statements fail with 1064, unknown variables with 1193.
pub fn parse(sql: &str) -> Result<Stmt, SqlError> {
    let trimmed = sql.trim().trim_end_matches(';').trim_end();
    let toks = lex(trimmed).ok_or_else(|| syntax(sql))?;
    let mut p = P {
        src: trimmed,
        toks,
        pos: 0,
    };
    let stmt = parse_stmt(&mut p, sql)?;
    if !p.at_end() {
        return Err(syntax(sql));
    }
    Ok(stmt)
}

fn parse_stmt(p: &mut P<'_>, sql: &str) -> Result<Stmt, SqlError> {
    let bad = || syntax(sql);
    if p.kw("SELECT") {
        return parse_select(p, sql);
    }
    if p.kw("SET") {
        let name = if p.kw("GLOBAL") {
            match p.next() {
                Some(Tok::Word(w)) => w,
                _ => return Err(bad()),
            }
        } else {
            match p.next() {
                Some(Tok::Word(w)) if w.to_ascii_lowercase().starts_with("@@global.") => {
                    w["@@global.".len()..].to_string()
                }
                _ => return Err(bad()),
            }
        };
        if !p.sym('=') {
            return Err(bad());
        }
        if name.eq_ignore_ascii_case("clone_valid_donor_list") {
            return match p.next() {
                Some(Tok::Str(list)) => Ok(Stmt::SetCloneDonorList(list)),
                _ => Err(SqlError::new(
                    1232,
                    format!("Incorrect argument type to variable '{name}'"),
                )),
            };
        }
        let on = match p.next() {
            Some(Tok::Word(w)) | Some(Tok::Str(w)) => match w.to_ascii_uppercase().as_str() {
                "ON" | "TRUE" => true,
                "OFF" | "FALSE" => false,
                _ => {
                    return Err(SqlError::new(
                        1231,
                        format!("Variable '{name}' can't be set to the value of '{w}'"),
                    ))
                }
            },
            Some(Tok::Num(n)) => match n.as_str() {
                "1" => true,
                "0" => false,
                _ => {
                    return Err(SqlError::new(
                        1231,
                        format!("Variable '{name}' can't be set to the value of '{n}'"),
                    ))
                }
            },
            _ => return Err(bad()),
        };
        return match Var::from_name(&name) {
            Some(var @ (Var::ReadOnly | Var::SuperReadOnly)) => Ok(Stmt::SetGlobal { var, on }),
            Some(_) => Err(SqlError::new(
                1238,
                format!("Variable '{name}' is a read only variable"),
            )),
            None => Err(SqlError::new(
                1193,
                format!("Unknown system variable '{name}'"),
            )),
        };
    }
    if p.kw("SHOW") {
        if p.kws(&["REPLICA", "STATUS"]) {
            return Ok(Stmt::ShowReplicaStatus);
        }
        p.kw("FULL");
        if p.kw("PROCESSLIST") {
            return Ok(Stmt::ShowProcesslist);
        }
        return Err(bad());
    }
    for (verb, start) in [("START", true), ("STOP", false)] {
        if p.kws(&[verb, "REPLICA"]) {
            let threads = if p.kw("SQL_THREAD") {
                Threads::Sql
            } else if p.kw("IO_THREAD") {
                Threads::Io
            } else {
                Threads::Both
            };
            return Ok(if start {
                Stmt::StartReplica(threads)
            } else {
                Stmt::StopReplica(threads)
            });
        }
    }
    if p.kws(&["RESET", "REPLICA", "ALL"]) {
        return Ok(Stmt::ResetReplicaAll);
    }
    if p.kws(&["CHANGE", "REPLICATION", "SOURCE", "TO"]) {
        let mut cs = ChangeSource::default();
        loop {
            let Some(Tok::Word(opt)) = p.next() else {
                return Err(bad());
            };
            if !p.sym('=') {
                return Err(bad());
            }
            let flag = |v: Option<u64>| match v {
                Some(0) => Ok(false),
                Some(1) => Ok(true),
                _ => Err(bad()),
            };
            match opt.to_ascii_uppercase().as_str() {
                "SOURCE_HOST" => cs.host = Some(p.string().ok_or_else(bad)?),
                "SOURCE_USER" => cs.user = Some(p.string().ok_or_else(bad)?),
                "SOURCE_PASSWORD" => cs.password = Some(p.string().ok_or_else(bad)?),
                "SOURCE_PORT" => {
                    cs.port = Some(
                        p.int()
                            .and_then(|n| u16::try_from(n).ok())
                            .ok_or_else(bad)?,
                    )
                }
                "SOURCE_AUTO_POSITION" => cs.auto_position = Some(flag(p.int())?),
                "GET_SOURCE_PUBLIC_KEY" => cs.get_public_key = Some(flag(p.int())?),
                _ => return Err(bad()),
            }
            if !p.sym(',') {
                break;
            }
        }
        return Ok(Stmt::ChangeSource(cs));
    }
    if p.kw("KILL") {
        p.kw("CONNECTION");
        return p.int().map(Stmt::Kill).ok_or_else(bad);
    }
    if p.kws(&["INSERT", "INTO"]) {
        let table_ok =
            matches!(p.next(), Some(Tok::Word(t)) if t.eq_ignore_ascii_case("chaos.counter"));
        if !(table_ok && p.sym('(') && p.kw("id") && p.sym(')') && p.kw("VALUES") && p.sym('(')) {
            return Err(bad());
        }
        let id = p.int().ok_or_else(bad)?;
        if !p.sym(')') {
            return Err(bad());
        }
        return Ok(Stmt::Insert(id));
    }
    if p.kws(&["CLONE", "INSTANCE", "FROM"]) {
        let user = p.string().ok_or_else(bad)?;
        if !p.sym('@') {
            return Err(bad());
        }
        let host = p.string().ok_or_else(bad)?;
        if !p.sym(':') {
            return Err(bad());
        }
        let port = p
            .int()
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(bad)?;
        if !p.kws(&["IDENTIFIED", "BY"]) {
            return Err(bad());
        }
        let password = p.string().ok_or_else(bad)?;
        if p.kw("REQUIRE") {
            p.kw("NO");
            if !p.kw("SSL") {
                return Err(bad());
            }
        }
        return Ok(Stmt::Clone {
            user,
            host,
            port,
            password,
        });
    }
    Err(bad())
}

fn parse_select(p: &mut P<'_>, sql: &str) -> Result<Stmt, SqlError> {
    let bad = || syntax(sql);
    // Counter table reads.
    let save = p.pos;
    if p.kw("COUNT") && p.sym('(') && p.sym('*') && p.sym(')') && p.kw("FROM") && table(p) {
        return Ok(Stmt::SelectCount);
    }
    p.pos = save;
    if p.kw("id") && p.kw("FROM") && table(p) {
        if p.kws(&["ORDER", "BY", "id"]) {
            p.kw("ASC");
        }
        return Ok(Stmt::SelectIds);
    }
    p.pos = save;

    let mut items = Vec::new();
    loop {
        let from = p.pos;
        let expr = match p.next() {
            Some(Tok::Word(w)) if w.starts_with("@@") => {
                let lower = w.to_ascii_lowercase();
                let name = lower
                    .strip_prefix("@@global.")
                    .or_else(|| lower.strip_prefix("@@session."))
                    .or_else(|| lower.strip_prefix("@@local."))
                    .or_else(|| lower.strip_prefix("@@"))
                    .unwrap_or_default();
                let var = Var::from_name(name).ok_or_else(|| {
                    SqlError::new(1193, format!("Unknown system variable '{name}'"))
                })?;
                SelectExpr::Var(var)
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("CONNECTION_ID") => {
                if !(p.sym('(') && p.sym(')')) {
                    return Err(bad());
                }
                SelectExpr::ConnectionId
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("GTID_SUBSET") => {
                if !p.sym('(') {
                    return Err(bad());
                }
                let a = p.string().ok_or_else(bad)?;
                if !p.sym(',') {
                    return Err(bad());
                }
                let b = p.string().ok_or_else(bad)?;
                if !p.sym(')') {
                    return Err(bad());
                }
                SelectExpr::GtidSubset(a, b)
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("WAIT_FOR_EXECUTED_GTID_SET") => {
                if !p.sym('(') {
                    return Err(bad());
                }
                let set = p.string().ok_or_else(bad)?;
                let timeout = if p.sym(',') {
                    p.number()
                        .and_then(|n| n.parse::<f64>().ok())
                        .ok_or_else(bad)?
                } else {
                    0.0
                };
                if !p.sym(')') {
                    return Err(bad());
                }
                SelectExpr::WaitForExecutedGtidSet(set, timeout)
            }
            _ => return Err(bad()),
        };
        let mut column = p.text(from, p.pos);
        if p.kw("AS") {
            column = match p.next() {
                Some(Tok::Word(w)) | Some(Tok::Str(w)) => w,
                _ => return Err(bad()),
            };
        }
        items.push(SelectItem { expr, column });
        if !p.sym(',') {
            break;
        }
    }
    Ok(Stmt::Select(items))
}

fn table(p: &mut P<'_>) -> bool {
    matches!(p.next(), Some(Tok::Word(t)) if t.eq_ignore_ascii_case("chaos.counter"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(sql: &str) -> Stmt {
        parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    #[test]
    fn stmt_kinds_lists_exactly_the_kinds_statements_have() {
        let kinds: Vec<&str> = [
            "SELECT @@read_only",
            "SELECT WAIT_FOR_EXECUTED_GTID_SET('a:1', 1)",
            "SET GLOBAL super_read_only = ON",
            "SET GLOBAL read_only = OFF",
            "SHOW REPLICA STATUS",
            "SHOW PROCESSLIST",
            "START REPLICA",
            "STOP REPLICA",
            "RESET REPLICA ALL",
            "CHANGE REPLICATION SOURCE TO SOURCE_HOST='h', SOURCE_PORT=3306",
            "KILL 12",
            "INSERT INTO chaos.counter (id) VALUES (1)",
            "SELECT COUNT(*) FROM chaos.counter",
            "CLONE INSTANCE FROM 'root'@'h':3306 IDENTIFIED BY 'x'",
            "SET GLOBAL clone_valid_donor_list = 'h:3306'",
        ]
        .iter()
        .map(|q| ok(q).kind())
        .collect();
        assert_eq!(kinds, STMT_KINDS);
    }

    #[test]
    fn selects_of_variables_keep_the_written_column_name_or_alias() {
        let Stmt::Select(items) =
            ok("select @@global.read_only, @@super_read_only AS sro ,@@SESSION.server_id;")
        else {
            panic!()
        };
        assert_eq!(items.len(), 3);
        assert_eq!(
            items[0],
            SelectItem {
                expr: SelectExpr::Var(Var::ReadOnly),
                column: "@@global.read_only".into()
            }
        );
        assert_eq!(
            items[1],
            SelectItem {
                expr: SelectExpr::Var(Var::SuperReadOnly),
                column: "sro".into()
            }
        );
        assert_eq!(
            items[2],
            SelectItem {
                expr: SelectExpr::Var(Var::ServerId),
                column: "@@SESSION.server_id".into()
            }
        );
        for v in ["gtid_executed", "server_uuid", "hostname", "read_only"] {
            assert!(matches!(ok(&format!("SELECT @@{v}")), Stmt::Select(_)));
        }
    }

    #[test]
    fn unknown_variable_is_1193_and_unknown_statement_is_1064_naming_it() {
        let e = parse("SELECT @@global.innodb_bogus").unwrap_err();
        assert_eq!(e.code, 1193);
        assert_eq!(e.message, "Unknown system variable 'innodb_bogus'");
        let e = parse("SET GLOBAL bogus = ON").unwrap_err();
        assert_eq!(e.code, 1193);
        let e = parse("SHOW SLAVE STATUS").unwrap_err();
        assert_eq!(e.code, 1064);
        assert!(
            e.message
                .ends_with("statement not supported by the fake engine: SHOW SLAVE STATUS"),
            "{}",
            e.message
        );
        for bad in [
            "DROP TABLE x",
            "SELECT 1",
            "INSERT INTO other (id) VALUES (1)",
            "STOP REPLICA now",
            "",
            "KILL QUERY 5",
        ] {
            assert_eq!(parse(bad).unwrap_err().code, 1064, "{bad}");
        }
    }

    #[test]
    fn functions() {
        let Stmt::Select(items) = ok("SELECT CONNECTION_ID()") else {
            panic!()
        };
        assert_eq!(items[0].expr, SelectExpr::ConnectionId);
        assert_eq!(items[0].column, "CONNECTION_ID()");
        let Stmt::Select(items) = ok("SELECT GTID_SUBSET('a:1', 'b:1-2') AS s") else {
            panic!()
        };
        assert_eq!(
            items[0].expr,
            SelectExpr::GtidSubset("a:1".into(), "b:1-2".into())
        );
        assert_eq!(items[0].column, "s");
        let Stmt::Select(items) = ok("select wait_for_executed_gtid_set('x:1-3', 5)") else {
            panic!()
        };
        assert_eq!(
            items[0].expr,
            SelectExpr::WaitForExecutedGtidSet("x:1-3".into(), 5.0)
        );
        assert_eq!(
            ok("select wait_for_executed_gtid_set('x:1-3', 5)").kind(),
            "wait_for_executed_gtid_set"
        );
    }

    #[test]
    fn set_statements() {
        assert_eq!(
            ok("SET GLOBAL super_read_only = ON"),
            Stmt::SetGlobal {
                var: Var::SuperReadOnly,
                on: true
            }
        );
        assert_eq!(
            ok("set global read_only=0;"),
            Stmt::SetGlobal {
                var: Var::ReadOnly,
                on: false
            }
        );
        assert_eq!(
            ok("SET @@global.read_only = OFF"),
            Stmt::SetGlobal {
                var: Var::ReadOnly,
                on: false
            }
        );
        assert_eq!(
            ok("SET @@GLOBAL.super_read_only=1"),
            Stmt::SetGlobal {
                var: Var::SuperReadOnly,
                on: true
            }
        );
        assert_eq!(
            ok("SET GLOBAL read_only = 'on'"),
            Stmt::SetGlobal {
                var: Var::ReadOnly,
                on: true
            }
        );
        assert_eq!(parse("SET GLOBAL read_only = 7").unwrap_err().code, 1231);
        assert_eq!(parse("SET GLOBAL server_uuid = 1").unwrap_err().code, 1238);
        assert_eq!(
            ok("SET GLOBAL super_read_only = ON").kind(),
            "set_super_read_only"
        );
        assert_eq!(ok("SET GLOBAL read_only = ON").kind(), "set_read_only");
    }

    #[test]
    fn replication_statements() {
        assert_eq!(ok("SHOW REPLICA STATUS"), Stmt::ShowReplicaStatus);
        assert_eq!(ok("show   replica\n status ;"), Stmt::ShowReplicaStatus);
        assert_eq!(ok("STOP REPLICA"), Stmt::StopReplica(Threads::Both));
        assert_eq!(ok("start replica"), Stmt::StartReplica(Threads::Both));
        assert_eq!(
            ok("START REPLICA SQL_THREAD"),
            Stmt::StartReplica(Threads::Sql)
        );
        assert_eq!(
            ok("STOP REPLICA SQL_THREAD"),
            Stmt::StopReplica(Threads::Sql)
        );
        assert_eq!(ok("RESET REPLICA ALL"), Stmt::ResetReplicaAll);
        assert_eq!(parse("RESET REPLICA").unwrap_err().code, 1064);
        let cs = ok("CHANGE REPLICATION SOURCE TO SOURCE_HOST='mysql-a', SOURCE_PORT=3306, SOURCE_USER='repl', \
                     SOURCE_PASSWORD='p''w', SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1");
        assert_eq!(
            cs,
            Stmt::ChangeSource(ChangeSource {
                host: Some("mysql-a".into()),
                port: Some(3306),
                user: Some("repl".into()),
                password: Some("p'w".into()),
                auto_position: Some(true),
                get_public_key: Some(true),
            })
        );
        let cs = ok("change replication source to source_auto_position=1, source_host=\"h\"");
        assert_eq!(
            cs,
            Stmt::ChangeSource(ChangeSource {
                host: Some("h".into()),
                auto_position: Some(true),
                ..Default::default()
            })
        );
        assert_eq!(
            parse("CHANGE REPLICATION SOURCE TO SOURCE_BOGUS=1")
                .unwrap_err()
                .code,
            1064
        );
        assert_eq!(
            ok("CLONE INSTANCE FROM 'root'@'mysql-b':3306 IDENTIFIED BY 'secret' REQUIRE SSL"),
            Stmt::Clone {
                user: "root".into(),
                host: "mysql-b".into(),
                port: 3306,
                password: "secret".into()
            }
        );
        assert!(matches!(
            ok("clone instance from 'u'@'h':3306 identified by 'p'"),
            Stmt::Clone { .. }
        ));
        assert_eq!(
            ok("SET GLOBAL clone_valid_donor_list = 'mysql-b:3306,mysql-c:3306'"),
            Stmt::SetCloneDonorList("mysql-b:3306,mysql-c:3306".into())
        );
        assert_eq!(
            parse("SET GLOBAL clone_valid_donor_list = 1")
                .unwrap_err()
                .code,
            1232
        );
    }

    #[test]
    fn processlist_kill_and_counter() {
        assert_eq!(ok("SHOW PROCESSLIST"), Stmt::ShowProcesslist);
        assert_eq!(ok("show full processlist"), Stmt::ShowProcesslist);
        assert_eq!(ok("KILL 12"), Stmt::Kill(12));
        assert_eq!(ok("kill connection 7;"), Stmt::Kill(7));
        assert_eq!(
            ok("INSERT INTO chaos.counter (id) VALUES (42)"),
            Stmt::Insert(42)
        );
        assert_eq!(
            ok("insert into CHAOS.COUNTER(id) values(43);"),
            Stmt::Insert(43)
        );
        assert_eq!(ok("SELECT COUNT(*) FROM chaos.counter"), Stmt::SelectCount);
        assert_eq!(
            ok("select id from chaos.counter order by id"),
            Stmt::SelectIds
        );
        assert!(ok("KILL 1").is_mutation());
        assert!(!ok("SHOW PROCESSLIST").is_mutation());
    }
}
