//! Bucket ACL: GetBucketAcl and PutBucketAcl.
//!
//! Grants name users (CanonicalUser, ID = user name, as Ozone maps its USER ACLs). PUT takes
//! `x-amz-grant-*` headers (`id="u1", id="u2"`), an XML `AccessControlPolicy` body, or a canned
//! `x-amz-acl`; it replaces the bucket's grants. Beyond Ozone (which ignores canned ACLs and
//! has no anonymous access) we honour `private`, `public-read` and `public-read-write` by a
//! grant to the AllUsers group: that is what lets an anonymous browser read a bucket when
//! security is on. Other groups and e-mail grantees are 501 NotImplemented, as in Ozone.
//! The owner always has FULL_CONTROL and is listed first.

use super::{empty_response, xml_response, Access, Ctx, ALL_USERS, ALL_USERS_URI, OWNER_ID};
use crate::body::RespBody;
use crate::error::S3Error;
use crate::xml::XmlWriter;
use http::{Response, StatusCode};
use ozfs::{ByteStream, Grant};

const PERMISSIONS: &[&str] = &["FULL_CONTROL", "READ", "WRITE", "READ_ACP", "WRITE_ACP"];
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

fn write_grant(w: &mut XmlWriter, g: &Grant) {
    w.start("Grant");
    if g.grantee == ALL_USERS {
        w.start_attrs("Grantee", &[("xmlns:xsi", XSI), ("xsi:type", "Group")])
            .elem("URI", ALL_USERS_URI)
            .end();
    } else {
        w.start_attrs("Grantee", &[("xmlns:xsi", XSI), ("xsi:type", "CanonicalUser")])
            .elem("ID", &g.grantee)
            .elem("DisplayName", &g.grantee)
            .end();
    }
    w.elem("Permission", &g.permission).end();
}

pub async fn get(ctx: &Ctx) -> Result<Response<RespBody>, S3Error> {
    let info = match ctx.check_bucket(Access::ReadAcp).await? {
        Some(i) => i,
        None => ctx.state.store.bucket_info(&ctx.bucket_path()).await?,
    };
    let mut w = XmlWriter::new();
    w.start_ns("AccessControlPolicy")
        .start("Owner")
        .elem("ID", OWNER_ID)
        .elem("DisplayName", &info.owner)
        .end()
        .start("AccessControlList");
    write_grant(
        &mut w,
        &Grant {
            grantee: info.owner.clone(),
            permission: "FULL_CONTROL".into(),
        },
    );
    for g in info
        .acl
        .iter()
        .filter(|g| !(g.grantee == info.owner && g.permission == "FULL_CONTROL"))
    {
        write_grant(&mut w, g);
    }
    w.end();
    Ok(xml_response(StatusCode::OK, w.finish()))
}

/// Parse one grantee of a `x-amz-grant-*` header list entry (`id="u"`, `uri="..."`).
fn header_grantee(entry: &str) -> Result<String, S3Error> {
    let (kind, value) = entry
        .split_once('=')
        .ok_or_else(|| S3Error::invalid_argument(format!("invalid grant {entry:?}")))?;
    let value = value.trim().trim_matches('"').to_string();
    match kind.trim().to_ascii_lowercase().as_str() {
        "id" if !value.is_empty() => Ok(value),
        "uri" if value == ALL_USERS_URI => Ok(ALL_USERS.to_string()),
        "uri" | "emailaddress" => Err(S3Error::not_implemented(format!(
            "grantee {entry:?} is not supported; only id= and the AllUsers group are"
        ))),
        _ => Err(S3Error::invalid_argument(format!("invalid grant {entry:?}"))),
    }
}

fn grants_from_headers(ctx: &Ctx) -> Result<Option<Vec<Grant>>, S3Error> {
    let mut grants = Vec::new();
    let mut any = false;
    for (header, perm) in [
        ("x-amz-grant-read", "READ"),
        ("x-amz-grant-write", "WRITE"),
        ("x-amz-grant-read-acp", "READ_ACP"),
        ("x-amz-grant-write-acp", "WRITE_ACP"),
        ("x-amz-grant-full-control", "FULL_CONTROL"),
    ] {
        if let Some(v) = ctx.header(header) {
            any = true;
            for entry in v.split(',').filter(|e| !e.trim().is_empty()) {
                grants.push(Grant {
                    grantee: header_grantee(entry)?,
                    permission: perm.to_string(),
                });
            }
        }
    }
    if let Some(canned) = ctx.header("x-amz-acl") {
        any = true;
        let all = |p: &str| Grant {
            grantee: ALL_USERS.to_string(),
            permission: p.to_string(),
        };
        match canned {
            "private" => {}
            "public-read" => grants.push(all("READ")),
            "public-read-write" => {
                grants.push(all("READ"));
                grants.push(all("WRITE"));
            }
            other => return Err(S3Error::not_implemented(format!("canned ACL {other} is not supported"))),
        }
    }
    Ok(any.then_some(grants))
}

fn grants_from_xml(doc: &[u8]) -> Result<Vec<Grant>, S3Error> {
    let root = crate::xml::parse(doc).map_err(|_| S3Error::malformed_xml())?;
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
            } else if grantee.child_text("URI").map(str::trim) == Some(ALL_USERS_URI) {
                ALL_USERS.to_string()
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

pub async fn put(ctx: &Ctx, raw: ByteStream) -> Result<Response<RespBody>, S3Error> {
    // Through a link this also needs WRITE_ACP on the real bucket, where the store keeps the ACL
    // (see `Ctx::check_link_target`).
    if ctx.check_bucket(Access::WriteAcp).await?.is_none() {
        ctx.state.store.bucket_info(&ctx.bucket_path()).await?;
    }
    let grants = match grants_from_headers(ctx)? {
        Some(g) => g,
        None => {
            let body = crate::body::decode_payload(raw, &ctx.payload, None, crate::body::decoded_length(&ctx.headers));
            let doc = crate::body::read_small(body, 64 * 1024).await?;
            grants_from_xml(&doc)?
        }
    };
    ctx.state
        .store
        .update_bucket(&ctx.bucket_path(), ozfs::BucketUpdate::Acl(grants))
        .await?;
    Ok(empty_response(StatusCode::OK))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(grants_from_xml(email).unwrap_err().code, "NotImplemented");
    }

    #[test]
    fn header_grantees() {
        assert_eq!(header_grantee("id=\"alice\"").unwrap(), "alice");
        assert_eq!(header_grantee(&format!("uri=\"{ALL_USERS_URI}\"")).unwrap(), ALL_USERS);
        assert_eq!(
            header_grantee("emailAddress=\"a@b\"").unwrap_err().code,
            "NotImplemented"
        );
        assert_eq!(header_grantee("junk").unwrap_err().code, "InvalidArgument");
    }
}
