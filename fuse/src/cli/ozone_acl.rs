//! Ozone's ACL notation for `ozfs sh bucket getacl|setacl|addacl|removeacl`, mapped onto the S3
//! grants the store keeps ([`ozfs::Grant`]).
//!
//! Ozone writes an ACL as `TYPE:NAME:RIGHTS[SCOPE]` (`user:bilbo:rw`, `world::r[ACCESS]`), the
//! rights as letters: `r` READ, `w` WRITE, `c` CREATE, `l` LIST, `d` DELETE, `x` READ_ACL,
//! `y` WRITE_ACL, `a` ALL, `n` NONE. The store keeps S3 grants, so an ACL is kept as the S3
//! permissions its rights amount to, the way Ozone's S3 gateway maps the two:
//!
//! | Ozone rights | S3 permission |
//! |---|---|
//! | `a` (ALL) | FULL_CONTROL |
//! | `r`, `l` (READ, LIST) | READ |
//! | `w`, `c`, `d` (WRITE, CREATE, DELETE) | WRITE |
//! | `x` (READ_ACL) | READ_ACP |
//! | `y` (WRITE_ACL) | WRITE_ACP |
//!
//! and shown back (`getacl`) as the Ozone rights each permission grants (READ → READ, LIST;
//! WRITE → WRITE, CREATE, DELETE; …). `user:NAME` is the user NAME; `world` (and `anonymous`)
//! is S3's AllUsers group. Groups have no S3 counterpart and are refused; only the ACCESS scope
//! exists (a DEFAULT scope is refused).

use super::json::Value;
use super::{CliError, CliResult};
use ozfs::Grant;
use std::collections::BTreeSet;
use std::fmt;

/// The grantee name the store uses for S3's AllUsers group.
const ALL_USERS: &str = "AllUsers";

/// Ozone's ACL rights, in Ozone's order (the order `getacl` lists them and a rights string is
/// written in).
const RIGHTS: [(char, &str); 9] = [
    ('r', "READ"),
    ('w', "WRITE"),
    ('c', "CREATE"),
    ('l', "LIST"),
    ('d', "DELETE"),
    ('x', "READ_ACL"),
    ('y', "WRITE_ACL"),
    ('a', "ALL"),
    ('n', "NONE"),
];

/// Who an ACL is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Who {
    User(String),
    World,
}

/// One ACL in Ozone's terms: who, and a set of rights (letters of [`RIGHTS`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OzoneAcl {
    pub who: Who,
    pub rights: BTreeSet<char>,
}

impl fmt::Display for OzoneAcl {
    /// Ozone's own spelling: `user:bilbo:rw[ACCESS]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (t, n) = match &self.who {
            Who::User(n) => ("user", n.as_str()),
            Who::World => ("world", ""),
        };
        let letters: String = RIGHTS
            .iter()
            .filter(|(c, _)| self.rights.contains(c))
            .map(|(c, _)| *c)
            .collect();
        write!(f, "{t}:{n}:{letters}[ACCESS]")
    }
}

/// Parse `-a` values: comma-separated `TYPE:NAME:RIGHTS[SCOPE]`.
pub fn parse_list(text: &str) -> CliResult<Vec<OzoneAcl>> {
    let acls = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse_one)
        .collect::<CliResult<Vec<_>>>()?;
    if acls.is_empty() {
        return Err(CliError(format!("{text:?}: no ACL given (e.g. user:bilbo:rw)")));
    }
    Ok(acls)
}

fn parse_one(s: &str) -> CliResult<OzoneAcl> {
    let bad = |why: &str| {
        CliError(format!(
            "invalid ACL {s:?}: {why} (expected TYPE:NAME:RIGHTS, e.g. user:bilbo:rw)"
        ))
    };
    let mut it = s.splitn(3, ':');
    let (t, name, rest) = match (it.next(), it.next(), it.next()) {
        (Some(t), Some(n), Some(r)) => (t, n, r),
        _ => return Err(bad("not three fields")),
    };
    let (letters, scope) = match rest.split_once('[') {
        Some((l, sc)) => (l, sc.strip_suffix(']').ok_or_else(|| bad("unclosed scope"))?),
        None => (rest, "ACCESS"),
    };
    if !scope.eq_ignore_ascii_case("ACCESS") {
        return Err(bad("only the ACCESS scope exists here"));
    }
    let who = match t.to_ascii_lowercase().as_str() {
        "user" if !name.is_empty() && !name.chars().any(char::is_control) => Who::User(name.to_string()),
        "user" => return Err(bad("a user ACL needs a user name")),
        "world" | "anonymous" => Who::World,
        "group" => return Err(bad("group ACLs are not supported (S3 grants name users)")),
        _ => return Err(bad("the type must be user or world")),
    };
    let mut rights = BTreeSet::new();
    for c in letters.chars() {
        let c = c.to_ascii_lowercase();
        if !RIGHTS.iter().any(|(r, _)| *r == c) {
            return Err(bad(&format!("unknown right {c:?}")));
        }
        rights.insert(c);
    }
    if rights.is_empty() {
        return Err(bad("no rights"));
    }
    Ok(OzoneAcl { who, rights })
}

fn grantee(who: &Who) -> String {
    match who {
        Who::User(n) => n.clone(),
        Who::World => ALL_USERS.to_string(),
    }
}

/// The S3 permissions an ACL's rights amount to.
fn permissions(rights: &BTreeSet<char>) -> Vec<&'static str> {
    if rights.contains(&'a') {
        return vec!["FULL_CONTROL"];
    }
    let mut out = Vec::new();
    let has = |cs: &[char]| cs.iter().any(|c| rights.contains(c));
    if has(&['r', 'l']) {
        out.push("READ");
    }
    if has(&['w', 'c', 'd']) {
        out.push("WRITE");
    }
    if has(&['x']) {
        out.push("READ_ACP");
    }
    if has(&['y']) {
        out.push("WRITE_ACP");
    }
    out
}

/// The Ozone rights an S3 permission grants.
fn rights_of(permission: &str) -> &'static [char] {
    match permission {
        "FULL_CONTROL" => &['a'],
        "READ" => &['r', 'l'],
        "WRITE" => &['w', 'c', 'd'],
        "READ_ACP" => &['x'],
        "WRITE_ACP" => &['y'],
        _ => &[],
    }
}

/// The grants of ACLs (`setacl`).
pub fn to_grants(acls: &[OzoneAcl]) -> Vec<Grant> {
    let mut out: Vec<Grant> = Vec::new();
    for a in acls {
        for p in permissions(&a.rights) {
            let g = Grant {
                grantee: grantee(&a.who),
                permission: p.to_string(),
            };
            if !out.contains(&g) {
                out.push(g);
            }
        }
    }
    out
}

/// `addacl`: the grants with the ACLs' added; whether anything was new, per ACL.
pub fn add(grants: &[Grant], acls: &[OzoneAcl]) -> (Vec<Grant>, Vec<bool>) {
    let mut out = grants.to_vec();
    let mut added = Vec::new();
    for a in acls {
        let mut new = false;
        for g in to_grants(std::slice::from_ref(a)) {
            if !out.contains(&g) {
                out.push(g);
                new = true;
            }
        }
        added.push(new);
    }
    (out, added)
}

/// `removeacl`: the grants without the ACLs'; whether anything was removed, per ACL.
pub fn remove(grants: &[Grant], acls: &[OzoneAcl]) -> (Vec<Grant>, Vec<bool>) {
    let mut out = grants.to_vec();
    let mut removed = Vec::new();
    for a in acls {
        let before = out.len();
        let gone = to_grants(std::slice::from_ref(a));
        out.retain(|g| !gone.contains(g));
        removed.push(out.len() != before);
    }
    (out, removed)
}

/// The ACLs of a bucket as Ozone lists them: the owner (who always has every right) first, then
/// one entry per grantee with the rights its grants give.
pub fn from_grants(owner: &str, grants: &[Grant]) -> Vec<OzoneAcl> {
    let mut out = vec![OzoneAcl {
        who: Who::User(owner.to_string()),
        rights: BTreeSet::from(['a']),
    }];
    for g in grants {
        let who = if g.grantee == ALL_USERS {
            Who::World
        } else {
            Who::User(g.grantee.clone())
        };
        let rights = rights_of(&g.permission);
        match out.iter_mut().find(|a| a.who == who) {
            Some(a) => a.rights.extend(rights),
            None => out.push(OzoneAcl {
                who,
                rights: rights.iter().copied().collect(),
            }),
        }
    }
    out
}

/// `getacl`'s JSON: Ozone's list of `{type, name, aclScope, aclList}`.
pub fn json(acls: &[OzoneAcl]) -> Value {
    Value::Array(
        acls.iter()
            .map(|a| {
                let (t, n) = match &a.who {
                    Who::User(n) => ("USER", n.clone()),
                    Who::World => ("WORLD", String::new()),
                };
                let list = RIGHTS
                    .iter()
                    .filter(|(c, _)| a.rights.contains(c))
                    .map(|(_, name)| Value::Str((*name).to_string()))
                    .collect();
                Value::Object(vec![
                    ("type".into(), Value::Str(t.into())),
                    ("name".into(), Value::Str(n)),
                    ("aclScope".into(), Value::Str("ACCESS".into())),
                    ("aclList".into(), Value::Array(list)),
                ])
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(grantee: &str, permission: &str) -> Grant {
        Grant {
            grantee: grantee.into(),
            permission: permission.into(),
        }
    }

    #[test]
    fn parses_ozone_spellings() {
        let a = parse_list("user:bilbo:rw,world::r[ACCESS], user:frodo:a").unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(a[0].to_string(), "user:bilbo:rw[ACCESS]");
        assert_eq!(a[1].to_string(), "world::r[ACCESS]");
        assert_eq!(a[2].to_string(), "user:frodo:a[ACCESS]");
        assert_eq!(parse_list("anonymous::l").unwrap()[0].who, Who::World);
        for bad in [
            "",
            "user:bilbo",
            "user::rw",
            "group:hadoop:r",
            "user:bilbo:q",
            "user:bilbo:",
            "user:bilbo:r[DEFAULT]",
            "user:bilbo:r[ACCESS",
            "role:x:r",
        ] {
            assert!(parse_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn maps_to_and_from_grants() {
        let a = parse_list("user:bilbo:rwx,world::l,user:frodo:ra").unwrap();
        assert_eq!(
            to_grants(&a),
            vec![
                g("bilbo", "READ"),
                g("bilbo", "WRITE"),
                g("bilbo", "READ_ACP"),
                g("AllUsers", "READ"),
                g("frodo", "FULL_CONTROL"),
            ]
        );
        let back = from_grants("sam", &to_grants(&a));
        let text: Vec<String> = back.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "user:sam:a[ACCESS]",
                "user:bilbo:rwcldx[ACCESS]",
                "world::rl[ACCESS]",
                "user:frodo:a[ACCESS]"
            ]
        );
        let out = super::super::json::render(&json(&back[2..3]));
        assert_eq!(
            out,
            "[ {\n  \"type\" : \"WORLD\",\n  \"name\" : \"\",\n  \"aclScope\" : \"ACCESS\",\n  \"aclList\" : [ \"READ\", \"LIST\" ]\n} ]\n"
        );
    }

    #[test]
    fn add_and_remove_report_what_changed() {
        let start = vec![g("bilbo", "READ")];
        let acls = parse_list("user:bilbo:r,user:frodo:w").unwrap();
        let (after, added) = add(&start, &acls);
        assert_eq!(added, vec![false, true]);
        assert_eq!(after, vec![g("bilbo", "READ"), g("frodo", "WRITE")]);
        let (after, removed) = remove(&after, &parse_list("user:frodo:w,user:sam:r").unwrap());
        assert_eq!(removed, vec![true, false]);
        assert_eq!(after, start);
    }
}
