//! The `confidant` binary: parses the command line and hands over to the library.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use confidant::config::{AdminCommand, AuditCommand, CentreCommand};
use confidant::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match cli.config.resolve() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    confidant::init_tracing(settings.log_format);
    // Signature commands work on files only, with their own exit statuses (0, 1, 2).
    if let Some(Command::Signature(command)) = &cli.command {
        return confidant::signature::cli::run(&settings, command.clone());
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => confidant::run_server(settings)
                .await
                .map_err(|e| e.to_string()),
            Command::Admin(AdminCommand::CreateCounsellor {
                email,
                name,
                password_stdin,
            }) => confidant::admin::create_counsellor(&settings, &email, &name, password_stdin)
                .await
                .map_err(|e| e.to_string()),
            Command::Admin(AdminCommand::MailQueue { json }) => {
                confidant::admin::mail_queue(&settings, json)
                    .await
                    .map_err(|e| e.to_string())
            }
            Command::Admin(AdminCommand::Centre(CentreCommand::Show { json })) => {
                confidant::admin::centre_show(&settings, json)
                    .await
                    .map_err(|e| e.to_string())
            }
            Command::Admin(AdminCommand::Centre(CentreCommand::Set(set))) => {
                confidant::admin::centre_set(&settings, &set)
                    .await
                    .map_err(|e| e.to_string())
            }
            Command::Admin(AdminCommand::Audit(AuditCommand::Verify { json })) => {
                confidant::admin::audit_verify(&settings, json)
                    .await
                    .map_err(|e| e.to_string())
            }
            Command::Admin(AdminCommand::Audit(AuditCommand::List {
                since,
                action,
                actor,
                limit,
                json,
            })) => confidant::admin::audit_list(&settings, since, action, actor, limit, json)
                .await
                .map_err(|e| e.to_string()),
            // Handled above, before the runtime starts.
            Command::Signature(_) => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
