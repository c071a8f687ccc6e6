//! S3 secrets kept in the `secrets` table ([`SecretStore`] for the embedded store).

use super::*;

#[async_trait]
impl SecretStore for LocalStore {
    async fn lookup_secret(&self, access_key: &str) -> Result<Option<String>> {
        let a = access_key.to_string();
        self.run(move |i| {
            let txn = i.read()?;
            let t = txn.open_table(SECRETS).map_err(db)?;
            Ok(t.get(a.as_str()).map_err(db)?.map(|v| v.value().to_string()))
        })
        .await
    }

    async fn get_secret(&self, user: &str) -> Result<String> {
        let u = user.to_string();
        self.run(move |i| {
            i.write(|txn| {
                let mut t = txn.open_table(SECRETS).map_err(db)?;
                if t.get(u.as_str()).map_err(db)?.is_some() {
                    return Err(Error::SecretAlreadyExists(u.clone()));
                }
                let s = generate_secret();
                t.insert(u.as_str(), s.as_str()).map_err(db)?;
                Ok(s)
            })
        })
        .await
    }

    async fn revoke_secret(&self, user: &str) -> Result<()> {
        let u = user.to_string();
        self.run(move |i| {
            i.write(|txn| {
                let mut t = txn.open_table(SECRETS).map_err(db)?;
                if t.remove(u.as_str()).map_err(db)?.is_none() {
                    return Err(Error::SecretNotFound(u.clone()));
                }
                Ok(())
            })
        })
        .await
    }

    async fn set_secret(&self, user: &str, secret: &str) -> Result<()> {
        check_new_secret(secret)?;
        let (u, s) = (user.to_string(), secret.to_string());
        self.run(move |i| {
            i.write(|txn| {
                let mut t = txn.open_table(SECRETS).map_err(db)?;
                if t.get(u.as_str()).map_err(db)?.is_none() {
                    return Err(Error::SecretNotFound(u.clone()));
                }
                t.insert(u.as_str(), s.as_str()).map_err(db)?;
                Ok(())
            })
        })
        .await
    }
}
