//! Bucket ACL: GetBucketAcl and PutBucketAcl.
//!
//! Grants name users (CanonicalUser, ID = user name, as Ozone maps its USER ACLs). PUT takes
//! `x-amz-grant-*` headers (`id="u1", id="u2"`), an XML `AccessControlPolicy` body, or a canned
//! `x-amz-acl`; it replaces the bucket's grants. Beyond Ozone (which ignores canned ACLs and
//! has no anonymous access) we honour the canned ACLs as AWS defines them: `public-read` and
//! `public-read-write` grant to the AllUsers group (what lets an unsigned request read a
//! bucket, with security on or off), `authenticated-read` to the AuthenticatedUsers group;
//! `private`, `bucket-owner-read` and `bucket-owner-full-control` add no grant (the bucket
//! owner may already do everything here). Other groups and e-mail grantees are 501
//! NotImplemented, as in Ozone. Canned and explicit grant headers together are 400
//! InvalidRequest, as in AWS. The owner always has FULL_CONTROL and is listed first.
//!
//! The same parsing serves the ACL headers of CreateBucket, PutObject, CopyObject and
//! CreateMultipartUpload, and the object ACL ([`super::object_acl`]).

use super::{
    empty_response, xml_response, Access, Ctx, ALL_USERS, ALL_USERS_URI, AUTH_USERS, AUTH_USERS_URI, OWNER_ID,
};
use crate::body::RespBody;
use crate::error::S3Error;
use crate::xml::XmlWriter;
use http::{HeaderMap, Response, StatusCode};
use ozfs::{ByteStream, Grant};

const PERMISSIONS: &[&str] = &["FULL_CONTROL", "READ", "WRITE", "READ_ACP", "WRITE_ACP"];
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// One `<Grant>` of an `AccessControlList`.
pub fn write_grant(w: &mut XmlWriter, g: &Grant) {
    w.start("Grant");
    if let Some(uri) = group_uri(&g.grantee) {
        w.start_attrs("Grantee", &[("xmlns:xsi", XSI), ("xsi:type", "Group")])
            .elem("URI", uri)
            .end();
    } else {
        w.start_attrs("Grantee", &[("xmlns:xsi", XSI), ("xsi:type", "CanonicalUser")])
            .elem("ID", &g.grantee)
            .elem("DisplayName", &g.grantee)
            .end();
    }
    w.elem("Permission", &g.permission).end();
}

/// The URI of a group grantee, `None` for a user.
fn group_uri(grantee: &str) -> Option<&'static str> {
    match grantee {
        ALL_USERS => Some(ALL_USERS_URI),
        AUTH_USERS => Some(AUTH_USERS_URI),
        _ => None,
    }
}

/// The grantee name of a group URI we support.
fn group_of_uri(uri: &str) -> Option<&'static str> {
    match uri {
        ALL_USERS_URI => Some(ALL_USERS),
        AUTH_USERS_URI => Some(AUTH_USERS),
        _ => None,
    }
}

/// The `AccessControlPolicy` document: `owner` with FULL_CONTROL first, then `acl`.
pub fn policy_xml(owner: &str, acl: &[Grant]) -> Vec<u8> {
    let mut w = XmlWriter::new();
    w.start_ns("AccessControlPolicy")
        .start("Owner")
        .elem("ID", OWNER_ID)
        .elem("DisplayName", owner)
        .end()
        .start("AccessControlList");
    write_grant(
        &mut w,
        &Grant {
            grantee: owner.to_string(),
            permission: "FULL_CONTROL".into(),
        },
    );
    for g in acl
        .iter()
        .filter(|g| !(g.grantee == owner && g.permission == "FULL_CONTROL"))
    {
        write_grant(&mut w, g);
    }
    w.end();
    w.finish()
}

pub async fn get(ctx: &Ctx) -> Result<Response<RespBody>, S3Error> {
    let info = match ctx.check_bucket(Access::ReadAcp).await? {
        Some(i) => i,
        None => ctx.state.store.bucket_info(&ctx.bucket_path()).await?,
    };
    Ok(xml_response(StatusCode::OK, policy_xml(&info.owner, &info.acl)))
}

/// Parse one grantee of a `x-amz-grant-*` header list entry (`id="u"`, `uri="..."`).
fn header_grantee(entry: &str) -> Result<String, S3Error> {
    let (kind, value) = entry
        .split_once('=')
        .ok_or_else(|| S3Error::invalid_argument(format!("invalid grant {entry:?}")))?;
    let value = value.trim().trim_matches('"').to_string();
    match kind.trim().to_ascii_lowercase().as_str() {
        "id" if !value.is_empty() => Ok(value),
        "uri" if group_of_uri(&value).is_some() => Ok(group_of_uri(&value).unwrap_or_default().to_string()),
        "uri" | "emailaddress" => Err(S3Error::not_implemented(format!(
            "grantee {entry:?} is not supported; only id= and the AllUsers group are"
        ))),
        _ => Err(S3Error::invalid_argument(format!("invalid grant {entry:?}"))),
    }
}

/// The grants an ACL-setting request's headers ask for: `None` when it has no ACL header.
pub fn grants_from_headers(h: &HeaderMap) -> Result<Option<Vec<Grant>>, S3Error> {
    // An empty header counts as absent: the Go SDK sends `x-amz-acl:` empty when a client
    // passes an empty ACL (goofys's CreateBucket does), and AWS accepts that.
    let header = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).filter(|v| !v.trim().is_empty());
    let mut grants = Vec::new();
    let mut any = false;
    for (name, perm) in [
        ("x-amz-grant-read", "READ"),
        ("x-amz-grant-write", "WRITE"),
        ("x-amz-grant-read-acp", "READ_ACP"),
        ("x-amz-grant-write-acp", "WRITE_ACP"),
        ("x-amz-grant-full-control", "FULL_CONTROL"),
    ] {
        if let Some(v) = header(name) {
            any = true;
            for entry in v.split(',').filter(|e| !e.trim().is_empty()) {
                grants.push(Grant {
                    grantee: header_grantee(entry)?,
                    permission: perm.to_string(),
                });
            }
        }
    }
    if let Some(canned) = header("x-amz-acl") {
        if any {
            return Err(S3Error::invalid_request(
                "Specifying both Canned ACLs and Header Grants is not allowed",
            ));
        }
        any = true;
        let group = |who: &str, p: &str| Grant {
            grantee: who.to_string(),
            permission: p.to_string(),
        };
        match canned.trim() {
            "private" | "bucket-owner-read" | "bucket-owner-full-control" => {}
            "public-read" => grants.push(group(ALL_USERS, "READ")),
            "public-read-write" => {
                grants.push(group(ALL_USERS, "READ"));
                grants.push(group(ALL_USERS, "WRITE"));
            }
            "authenticated-read" => grants.push(group(AUTH_USERS, "READ")),
            "aws-exec-read" | "log-delivery-write" => {
                return Err(S3Error::not_implemented(
                    "canned ACLs aws-exec-read and log-delivery-write are not supported",
                ))
            }
            _ => return Err(S3Error::invalid_argument("Invalid canned ACL")),
        }
    }
    Ok(any.then_some(grants))
}

/// The grants of an `AccessControlPolicy` document.
pub fn grants_from_xml(doc: &[u8]) -> Result<Vec<Grant>, S3Error> {
    let root = ozfs::xml::parse(doc).map_err(|_| S3Error::malformed_xml())?;
    if root.name != "AccessControlPolicy" {
        return Err(S3Error::malformed_xml());
    }
    let mut grants = Vec::new();
    if let Some(list) = root.child("AccessControlList") {
        for g in list.children_named("Grant") {
            let grantee = g.child("Grantee").ok_or_else(S3Error::malformed_xml)?;
            let perm = g.child_text("Permission").ok_or_else(S3Error::malformed_xml)?.trim();
            if !PERMISSIONS.contains(&perm) {
                return Err(S3Error::malformed_xml());
            }
            let who = if let Some(id) = grantee.child_text("ID") {
                id.trim().to_string()
            } else if let Some(g) = grantee.child_text("URI").and_then(|u| group_of_uri(u.trim())) {
                g.to_string()
            } else {
                return Err(S3Error::not_implemented(
                    "only CanonicalUser grantees and the AllUsers group are supported",
                ));
            };
            grants.push(Grant {
                grantee: who,
                permission: perm.to_string(),
            });
        }
    }
    Ok(grants)
}

/// The grants a PUT `?acl` asks for: its headers, else its XML body.
pub async fn request_grants(ctx: &Ctx, raw: ByteStream) -> Result<Vec<Grant>, S3Error> {
    match grants_from_headers(&ctx.headers)? {
        Some(g) => Ok(g),
        None => {
            let body = crate::body::decode_payload(raw, &ctx.payload, None, crate::body::decoded_length(&ctx.headers));
            let doc = crate::body::read_small(body, 64 * 1024).await?;
            grants_from_xml(&doc)
        }
    }
}

pub async fn put(ctx: &Ctx, raw: ByteStream) -> Result<Response<RespBody>, S3Error> {
    // Through a link this also needs WRITE_ACP on the real bucket, where the store keeps the ACL
    // (see `Ctx::check_link_target`).
    if ctx.check_bucket(Access::WriteAcp).await?.is_none() {
        ctx.state.store.bucket_info(&ctx.bucket_path()).await?;
    }
    let grants = request_grants(ctx, raw).await?;
    ctx.state
        .store
        .update_bucket(&ctx.bucket_path(), ozfs::BucketUpdate::Acl(grants))
        .await?;
    Ok(empty_response(StatusCode::OK))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::S3ErrorCode;

    #[test]
    fn xml_grants() {
        let doc = br#"<AccessControlPolicy><Owner><ID>x</ID></Owner><AccessControlList>
            <Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>bob</ID></Grantee><Permission>READ</Permission></Grant>
            <Grant><Grantee xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant>
            </AccessControlList></AccessControlPolicy>"#;
        let g = grants_from_xml(doc).unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].grantee, "bob");
        assert_eq!(g[1].grantee, ALL_USERS);
        let email = br#"<AccessControlPolicy><AccessControlList><Grant><Grantee><EmailAddress>a@b</EmailAddress></Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>"#;
        assert_eq!(grants_from_xml(email).unwrap_err().code, S3ErrorCode::NotImplemented);
    }

    #[test]
    fn header_grantees() {
        assert_eq!(header_grantee("id=\"alice\"").unwrap(), "alice");
        assert_eq!(header_grantee(&format!("uri=\"{ALL_USERS_URI}\"")).unwrap(), ALL_USERS);
        assert_eq!(
            header_grantee("emailAddress=\"a@b\"").unwrap_err().code,
            S3ErrorCode::NotImplemented
        );
        assert_eq!(header_grantee("junk").unwrap_err().code, S3ErrorCode::InvalidArgument);
        assert_eq!(header_grantee(&format!("uri={AUTH_USERS_URI}")).unwrap(), AUTH_USERS);
    }

    fn hm(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn canned_acls() {
        let g = |pairs: &[(&str, &str)]| grants_from_headers(&hm(pairs));
        assert_eq!(g(&[]).unwrap(), None);
        assert_eq!(g(&[("x-amz-acl", "")]).unwrap(), None, "empty is absent (goofys)");
        assert_eq!(g(&[("x-amz-acl", "private")]).unwrap(), Some(vec![]));
        assert_eq!(g(&[("x-amz-acl", "bucket-owner-full-control")]).unwrap(), Some(vec![]));
        let pr = g(&[("x-amz-acl", "public-read")]).unwrap().unwrap();
        assert_eq!((pr[0].grantee.as_str(), pr[0].permission.as_str()), (ALL_USERS, "READ"));
        assert_eq!(g(&[("x-amz-acl", "public-read-write")]).unwrap().unwrap().len(), 2);
        let ar = g(&[("x-amz-acl", "authenticated-read")]).unwrap().unwrap();
        assert_eq!(ar[0].grantee, AUTH_USERS);
        assert_eq!(
            g(&[("x-amz-acl", "nonsense")]).unwrap_err().code,
            S3ErrorCode::InvalidArgument
        );
        assert_eq!(
            g(&[("x-amz-acl", "public-read"), ("x-amz-grant-read", "id=\"bob\"")])
                .unwrap_err()
                .code,
            S3ErrorCode::InvalidRequest
        );
        let explicit = g(&[("x-amz-grant-read", "id=\"bob\", id=\"carol\"")]).unwrap().unwrap();
        assert_eq!(explicit.len(), 2);
    }
}
