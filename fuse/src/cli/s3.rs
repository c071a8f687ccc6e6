//! `ozfs s3 getsecret|revokesecret|setsecret [-u USER]`, as `ozone s3` does it: the access key is
//! the user name; a secret (64 hex characters) is shown once — a second `getsecret` fails until
//! the secret is revoked; `revokesecret` asks for confirmation unless `-y`. The secrets are
//! what `ozfs serve --secure` accepts; without `--secure` any key works.

use super::admin::Admin;
use super::{CliError, CliResult};
use clap::Subcommand;
use std::io::{BufRead, Write};

#[derive(Subcommand, Debug)]
pub enum S3Command {
    /// Issue an S3 secret for USER and print it (shown once).
    Getsecret {
        /// The user (default: the login user).
        #[arg(short = 'u', long = "username", visible_alias = "user", value_name = "USER")]
        user: Option<String>,
        /// Print `export AWS_ACCESS_KEY_ID=…` / `export AWS_SECRET_ACCESS_KEY=…` lines instead.
        #[arg(short = 'e', long = "export")]
        export: bool,
    },
    /// Revoke the S3 secret of USER.
    Revokesecret {
        /// The user (default: the login user).
        #[arg(short = 'u', long = "username", visible_alias = "user", value_name = "USER")]
        user: Option<String>,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long = "yes")]
        yes: bool,
    },
    /// Set the S3 secret of USER (who must already have one) to SECRET (8 characters or more).
    Setsecret {
        /// The user (default: the login user).
        #[arg(short = 'u', long = "username", visible_alias = "user", value_name = "USER")]
        user: Option<String>,
        /// The new secret.
        #[arg(short = 's', long = "secret", value_name = "SECRET")]
        secret: String,
        /// Print `export AWS_ACCESS_KEY_ID=…` / `export AWS_SECRET_ACCESS_KEY=…` lines instead.
        #[arg(short = 'e', long = "export")]
        export: bool,
    },
}

fn print_secret(user: &str, secret: &str, export: bool) {
    if export {
        println!("export AWS_ACCESS_KEY_ID={user}");
        println!("export AWS_SECRET_ACCESS_KEY={secret}");
    } else {
        println!("awsAccessKey={user}");
        println!("awsSecret={secret}");
    }
}

pub async fn run(admin: &dyn Admin, login: &str, cmd: S3Command) -> CliResult<()> {
    match cmd {
        S3Command::Getsecret { user, export } => {
            let user = user.as_deref().unwrap_or(login);
            let secret = admin.get_secret(user).await?;
            print_secret(user, &secret, export);
        }
        S3Command::Revokesecret { user, yes } => {
            let user = user.as_deref().unwrap_or(login);
            if !yes && !confirm(user)? {
                return Err(CliError(format!("S3 secret revocation for '{user}' cancelled")));
            }
            admin.revoke_secret(user).await?;
            println!("S3 secret revoked.");
        }
        S3Command::Setsecret { user, secret, export } => {
            let user = user.as_deref().unwrap_or(login);
            admin.set_secret(user, &secret).await?;
            print_secret(user, &secret, export);
        }
    }
    Ok(())
}

/// Ask on standard output, read one line from standard input; only `y` confirms (end of input
/// does not).
fn confirm(user: &str) -> CliResult<bool> {
    let mut out = std::io::stdout();
    let _ = write!(out, "Enter 'y' to confirm S3 secret revocation for '{user}': ");
    let _ = out.flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError(format!("reading the confirmation: {}", super::sh::io_msg(&e))))?;
    if line.is_empty() {
        // End of input: finish the prompt line so the error starts on its own line.
        println!();
    }
    Ok(line.trim() == "y")
}
