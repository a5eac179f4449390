//! The prose of the help pages, in one reviewed place: a one-line summary of each service
//! and of each served operation, and a sentence for every input and output member of a
//! served operation, saying what it does *in iotjobs* (what is enforced, what is only
//! stored, what is refused).
//!
//! Written for iotjobs from what its handlers do; this module must not carry or paraphrase
//! AWS's documentation text (the botocore models' `documentation` strings stay out of the
//! binary, and a test checks that no sentence here shares a long run of words with them).
//! Nor does it state the model's constraints (required, min, max, pattern, enum values):
//! `help.rs` prints those from the generated tables after each sentence. Keys are the
//! model's operation and member names; the tests below fail when a served operation or
//! one of its members has no text here, or when a text names something no longer served.

/// The help texts of one served operation.
#[derive(Debug, Clone, Copy)]
pub struct OperationHelp {
    /// The CLI command of the service (`iot`, `iot-jobs-data`).
    pub service: &'static str,
    /// The model's operation name (`CancelJobExecution`).
    pub operation: &'static str,
    /// One line: what the operation does.
    pub summary: &'static str,
    /// Input member name → what it does, in model order.
    pub input: &'static [(&'static str, &'static str)],
    /// Output member name → what it holds, in model order.
    pub output: &'static [(&'static str, &'static str)],
}

impl OperationHelp {
    /// The sentence of input member `name`.
    pub fn input_member(&self, name: &str) -> Option<&'static str> {
        find(self.input, name)
    }

    /// The sentence of output member `name`.
    pub fn output_member(&self, name: &str) -> Option<&'static str> {
        find(self.output, name)
    }
}

fn find(table: &'static [(&'static str, &'static str)], name: &str) -> Option<&'static str> {
    table.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// The help texts of `operation` (model name) of the service whose CLI command is `service`.
pub fn operation(service: &str, operation: &str) -> Option<&'static OperationHelp> {
    OPERATIONS
        .iter()
        .find(|o| o.service == service && o.operation == operation)
}

/// What a service is, in a few words (for `iotjobs help`, `iotjobs help iot` and
/// `iotjobs --help`).
pub fn service_summary(service: &str) -> Option<&'static str> {
    find(SERVICES, service)
}

/// One line about a service and where its operations are listed, as `iotjobs --help` and
/// `iotjobs help` show it.
pub fn service_line(service: &str) -> String {
    let summary = service_summary(service).unwrap_or("AWS CLI v1 drop-in");
    format!("{summary}. `iotjobs help {service}` lists its operations.")
}

/// `iotjobs serve`, in a few words.
/// The binary's own commands besides `serve` (clap's), with their one-line summaries, for
/// the top help page and `iotjobs help <command>`.
pub const SERVER_COMMANDS: [(&str, &str); 2] = [
    (
        "backup",
        "Copy the SQLite databases of a (possibly running) server into a directory, each copy consistent and checked",
    ),
    (
        "audit",
        "Read a running server's audit log (who changed what, from where, when, old and new status)",
    ),
];

pub const SERVE_SUMMARY: &str = "Run the service: the control plane (`iot`) and the device data plane (`iot-jobs-data`) on one HTTP listener, and devices over MQTT when asked";

/// The services, keyed by CLI command (no final period: callers end the sentence).
pub static SERVICES: &[(&str, &str)] = &[
    (
        "iot",
        "AWS CLI v1 drop-in for the control plane: jobs, job executions, things, thing groups and certificates",
    ),
    (
        "iot-jobs-data",
        "AWS CLI v1 drop-in for the device data plane: a device finds, starts and reports its job executions",
    ),
];

// Sentences that several operations share word for word.
const NEXT_TOKEN_IN: &str = "Continue an earlier listing: the nextToken its last page ended with. Giving it turns the CLI's automatic paging off, so one page is printed.";
const MAX_RESULTS_IN: &str = "How many items one response holds at most (100 when not given). Giving it turns the CLI's automatic paging off: one page is printed, with the nextToken to continue from.";
const NEXT_TOKEN_OUT: &str = "Set when more items follow; pass it back as --next-token for the next page. The CLI does so by itself unless paging is off.";
const IGNORED_NAMESPACE: &str = "Accepted and ignored: iotjobs has no job namespaces.";
const NO_SUBSTITUTION: &str = "Accepted and changes nothing: the document is shown as stored (a managed template's parameters already filled in; presigned-URL placeholders as written: only devices get them filled in), so it is the same before and after.";
const STORED_PRESIGNED: &str = "How long (expiresInSec, 60 to 3600, default 3600) the presigned S3 URLs that replace ${aws:iot:s3-presigned-url...} placeholders stay valid; each device request gets fresh ones. The server signs with its own S3 credentials (serve --s3-endpoint); roleArn is kept and shown by describe-job but not assumed.";
const ROLLOUT_IN: &str = "How fast targets get their execution: maximumPerMinute (1-1000), or exponentialRate (a base rate multiplied by incrementFactor each time another numberOfNotifiedThings were notified or numberOfSucceededThings succeeded, up to maximumPerMinute). Targets not reached yet have no execution. Without it, every target gets its execution at once.";
const ABORT_IN: &str = "Cancels the job (as cancel-job without --force, reason code ABORT_CRITERIA_MET) once at least minNumberOfExecutedThings executions have finished and failures of failureType (FAILED, REJECTED, TIMED_OUT or ALL) reach thresholdPercentage of them.";
const RETRY_IN: &str = "Queues a FAILED or TIMED_OUT execution again, up to numberOfRetries times per failureType (FAILED, TIMED_OUT or ALL; at most 10 in all); retryAttempt counts the attempts. Once a job exists its retries can only be set to 0.";
const GROUP_ARN_INSTEAD: &str =
    "The group by its ARN (this account and region), instead of --thing-group-name.";
const THING_ARN_INSTEAD: &str =
    "The thing by its ARN (this account and region), instead of --thing-name.";
const CERT_ID_OUT: &str =
    "The certificate's id: the SHA-256 digest of its DER encoding, as 64 lowercase hex digits.";
const EXECUTION_NUMBER_IN: &str = "Pick one execution by its number; without it, the thing's latest execution of that job. A thing has several when a CONTINUOUS job queued it again after one was removed.";

/// Every served operation, in model order per service.
pub static OPERATIONS: &[OperationHelp] = &[
    OperationHelp {
        service: "iot",
        operation: "AddThingToThingGroup",
        summary: "Put a thing into a static thing group; CONTINUOUS jobs that target the group queue an execution for it.",
        input: &[
            (
                "thingGroupName",
                "The group to put the thing in, by name; give this or --thing-group-arn.",
            ),
            ("thingGroupArn", GROUP_ARN_INSTEAD),
            (
                "thingName",
                "The thing to put in the group, by name; give this or --thing-arn. A thing can be in at most 10 groups, and in only one group of any hierarchy.",
            ),
            ("thingArn", THING_ARN_INSTEAD),
            (
                "overrideDynamicGroups",
                "Accepted and ignored: iotjobs has static groups only.",
            ),
        ],
        output: &[],
    },
    OperationHelp {
        service: "iot",
        operation: "AttachThingPrincipal",
        summary: "Attach a registered certificate to a thing, so that a device presenting it may connect over MQTT as that thing.",
        input: &[
            ("thingName", "The thing the certificate will stand for."),
            (
                "principal",
                "The certificate's ARN (arn:aws:iot:REGION:ACCOUNT:cert/ID, this account and region); other kinds of principal are refused. Attaching it a second time changes nothing.",
            ),
            (
                "thingPrincipalType",
                "EXCLUSIVE_THING: this thing must be the certificate's only one (refused when it is attached elsewhere, and later attachments elsewhere are refused). NON_EXCLUSIVE_THING, the default, lets several things share it.",
            ),
        ],
        output: &[],
    },
    OperationHelp {
        service: "iot",
        operation: "CancelJob",
        summary: "Cancel a whole job: it becomes CANCELED, and so do its QUEUED executions (its IN_PROGRESS ones too with --force).",
        input: &[
            ("jobId", "The job to cancel."),
            (
                "reasonCode",
                "A code of your own for why the job was canceled, kept with the job and shown by describe-job.",
            ),
            (
                "comment",
                "Free text about the cancellation, kept with the job, shown by describe-job and sent with the job's canceled event (serve --mqtt-events).",
            ),
            (
                "force",
                "Also cancel the executions devices have started (IN_PROGRESS); their devices can no longer update them. Without it those are left to finish. A job that is already canceled can only be canceled again with it.",
            ),
        ],
        output: &[
            ("jobArn", "The ARN of the canceled job."),
            ("jobId", "The id of the canceled job."),
            ("description", "The job's description, when it has one."),
        ],
    },
    OperationHelp {
        service: "iot",
        operation: "AssociateTargetsWithJob",
        summary: "Add things or thing groups to a CONTINUOUS job that is still running; every thing they bring that has no execution of the job yet gets a QUEUED one.",
        input: &[
            (
                "targets",
                "ARNs of things or thing groups to add (this account and region); a job has at most 100 targets in all. A group added here keeps the job following it: things that join it later get an execution too.",
            ),
            (
                "jobId",
                "The job to extend; it must be CONTINUOUS and IN_PROGRESS.",
            ),
            ("comment", "Free text about why; accepted and not stored."),
            (
                "namespaceId",
                "Accepted and ignored: iotjobs has no namespaced notification topics.",
            ),
        ],
        output: &[
            ("jobArn", "The ARN of the job."),
            ("jobId", "The id of the job."),
            ("description", "The job's description, when it has one."),
        ],
    },
    OperationHelp {
        service: "iot",
        operation: "CancelJobExecution",
        summary: "Cancel one thing's execution of a job, so that its device stops running it.",
        input: &[
            ("jobId", "The job whose execution is canceled."),
            ("thingName", "The thing whose execution is canceled."),
            (
                "force",
                "Also cancel an execution that is IN_PROGRESS; without it only QUEUED executions can be canceled. The device can then no longer update it.",
            ),
            (
                "expectedVersion",
                "Cancel only while the execution's versionNumber is this one; otherwise nothing changes and the call fails with VersionConflictException.",
            ),
            (
                "statusDetails",
                "Name-value pairs (at most 10) that replace the execution's status details as it is canceled; without it they stay as they are.",
            ),
        ],
        output: &[],
    },
    OperationHelp {
        service: "iot",
        operation: "CreateJob",
        summary: "Create a job: a JSON document for a set of things and thing groups, each thing getting a QUEUED execution, at once or at the pace of its rollout and schedule.",
        input: &[
            (
                "jobId",
                "A name for the job, unique in the account; devices see it in their job topics. Once a deleted job is gone, its id can be used again.",
            ),
            (
                "targets",
                "ARNs of things and thing groups of this account and region (at most 100), all of which must exist. A group stands for its things and those of its descendant groups; each thing gets one execution.",
            ),
            (
                "documentSource",
                "The S3 URL of the job document (https://s3.REGION.amazonaws.com/BUCKET/KEY and the other S3 forms, or the server's --s3-endpoint URL): the object is read once, now, from the server's S3 endpoint, and must be a JSON object; the URL is kept and shown by describe-job. Give this or --document, not both.",
            ),
            (
                "document",
                "The job document itself: a JSON object, handed to devices with their execution. Give this or --document-source.",
            ),
            (
                "description",
                "Free text about the job, shown by describe-job.",
            ),
            ("presignedUrlConfig", STORED_PRESIGNED),
            (
                "targetSelection",
                "SNAPSHOT (the default): executions for the targets as they are now, and the job completes when all of them have finished. CONTINUOUS: a thing that joins a targeted group later gets an execution too, and the job never completes by itself.",
            ),
            ("jobExecutionsRolloutConfig", ROLLOUT_IN),
            ("abortConfig", ABORT_IN),
            (
                "timeoutConfig",
                "With inProgressTimeoutInMinutes set, an execution still IN_PROGRESS that many minutes after it started becomes TIMED_OUT (applied by the server's sweep, so up to one sweep interval late).",
            ),
            (
                "tags",
                "Kept with the job only; iotjobs serves no tag operations.",
            ),
            (
                "namespaceId",
                "Kept with the job and shown by describe-job; iotjobs has no namespaced device topics, so devices see no difference.",
            ),
            (
                "jobTemplateArn",
                "A job template to start from. One of this account's (create-job-template): the job takes its document, its presigned-URL, rollout, abort, timeout and retry settings, maintenance windows and package versions, except those this request gives itself, which replace the template's one by one. Or an AWS managed template (arn:aws:iot:REGION::jobtemplate/NAME:VERSION, as list-managed-job-templates shows it), whose document the job gets with --document-parameters filled in; then give neither --document nor --document-source, and without --description the job takes the template's.",
            ),
            ("jobExecutionsRetryConfig", RETRY_IN),
            (
                "documentParameters",
                "Values for the managed template's parameters (key=value pairs): each required key must be there, no other key may be, and each value must match its parameter's regex (describe-managed-job-template lists them). Every value is written into the template's document in place of its placeholder, a left-out optional one as an empty string. Refused without a managed --job-template-arn.",
            ),
            (
                "schedulingConfig",
                "When the job runs: it is SCHEDULED until startTime (YYYY-MM-DDTHH:MM, UTC, 30 minutes to a year ahead); at endTime, endBehavior STOP_ROLLOUT (the default), CANCEL or FORCE_CANCEL; maintenanceWindows (a cron(...) start and durationInMinutes) limit the rollout to those windows.",
            ),
            (
                "destinationPackageVersions",
                "Kept with the job and shown by describe-job; iotjobs has no software package catalog.",
            ),
        ],
        output: &[
            ("jobArn", "The ARN of the new job."),
            ("jobId", "The id of the new job."),
            ("description", "The description you gave, if any."),
        ],
    },
    OperationHelp {
        service: "iot",
        operation: "CreateJobTemplate",
        summary: "Save a job document and job settings under a template id, so that create-job --job-template-arn can start jobs from them.",
        input: &[
            (
                "jobTemplateId",
                "A name for the template, unique among the account's templates; the same id again is refused with ConflictException.",
            ),
            (
                "jobArn",
                "Copy an existing job of this account instead of giving a document: its document (or document URL) and its presigned-URL, rollout, abort, timeout and retry settings, maintenance windows and package versions, each as it is now. Any of those given here as well replace the copied one. Give exactly one of this, --document and --document-source.",
            ),
            (
                "documentSource",
                "A URL of the job document, kept with the template and passed on to its jobs. Give exactly one of this, --document and --job-arn.",
            ),
            (
                "document",
                "The job document itself, a JSON object, passed on to every job made from the template. Give exactly one of this, --document-source and --job-arn.",
            ),
            (
                "description",
                "Free text about the template, shown by describe-job-template and list-job-templates; jobs made from it do not take it.",
            ),
            (
                "presignedUrlConfig",
                "Kept and passed on to the template's jobs, which keep it the way create-job does.",
            ),
            (
                "jobExecutionsRolloutConfig",
                "How fast jobs made from the template reach their things, checked as create-job checks it; each such job applies it.",
            ),
            (
                "abortConfig",
                "When jobs made from the template cancel themselves because too many executions failed; checked as create-job checks it, and applied by each such job.",
            ),
            (
                "timeoutConfig",
                "The in-progress timeout that jobs made from the template give their executions.",
            ),
            (
                "tags",
                "Kept with the template only: neither listed by iotjobs nor passed on to jobs.",
            ),
            (
                "jobExecutionsRetryConfig",
                "How often jobs made from the template queue a failed or timed-out execution again; checked as create-job checks it, and applied by each such job.",
            ),
            (
                "maintenanceWindows",
                "Recurring windows (a cron start and a length in minutes) that become the maintenance windows of every job made from the template: they roll out only inside them.",
            ),
            (
                "destinationPackageVersions",
                "Kept and passed on to the template's jobs; iotjobs has no software package catalog.",
            ),
        ],
        output: &[
            (
                "jobTemplateArn",
                "The new template's ARN, to give to create-job --job-template-arn.",
            ),
            ("jobTemplateId", "The id of the new template."),
        ],
    },
    OperationHelp {
        service: "iot",
        operation: "CreateKeysAndCertificate",
        summary: "Make a key pair and a device certificate signed by the server's client CA, and register the certificate (needs `iotjobs serve --mqtt-client-ca-key`).",
        input: &[(
            "setAsActive",
            "Register the new certificate as ACTIVE, so that a device can connect with it once it is attached to a thing; without it the certificate starts INACTIVE.",
        )],
        output: &[
            (
                "certificateArn",
                "The new certificate's ARN, to give to attach-thing-principal.",
            ),
            ("certificateId", CERT_ID_OUT),
            ("certificatePem", "The new certificate, PEM-encoded."),
            (
                "keyPair",
                "The new ECDSA P-256 key pair, PEM-encoded. The private key is in this response only (iotjobs does not keep it): save it now.",
            ),
        ],
    },
    OperationHelp {
        service: "iot",
        operation: "CreateThing",
        summary: "Register a thing (a device) by name; creating it again with the same settings returns the existing one.",
        input: &[
            (
                "thingName",
                "The thing's name, unique in the account; its device uses it as MQTT client id and in its job topics.",
            ),
            (
                "thingTypeName",
                "A thing type to record for the thing; kept as given, without a check that it exists (thing types are not served).",
            ),
            (
                "attributePayload",
                "The thing's attributes, names mapped to string values; list-things can filter on them.",
            ),
            (
                "billingGroupName",
                "A billing group to record for the thing; kept as given, without a check (billing groups are not served).",
            ),
        ],
        output: &[
            ("thingName", "The thing's name."),
            ("thingArn", "The thing's ARN, the form a job's targets use."),
            (
                "thingId",
                "A unique id iotjobs gave the thing when it was created.",
            ),
        ],
    },
    OperationHelp {
        service: "iot",
        operation: "CreateThingGroup",
        summary: "Create a static thing group, optionally inside a parent group; a job can target it by ARN.",
        input: &[
            ("thingGroupName", "The group's name, unique in the account."),
            (
                "parentGroupName",
                "An existing group to nest this one in: a job that targets the parent reaches this group's things too.",
            ),
            (
                "thingGroupProperties",
                "The group's description (thingGroupDescription) and attributes (attributePayload.attributes).",
            ),
            (
                "tags",
                "Kept with the group only; iotjobs serves no tag operations.",
            ),
        ],
        output: &[
            ("thingGroupName", "The group's name."),
            (
                "thingGroupArn",
                "The group's ARN, the form a job's targets use.",
            ),
            (
                "thingGroupId",
                "A unique id iotjobs gave the group when it was created.",
            ),
        ],
    },
    OperationHelp {
        service: "iot",
        operation: "DeleteCertificate",
        summary: "Remove a certificate from the registry; it must not be ACTIVE, nor attached to any thing.",
        input: &[
            (
                "certificateId",
                "Which certificate to remove, by its id (64 hex digits).",
            ),
            (
                "forceDelete",
                "Accepted and changes nothing: it would override attached policies, and iotjobs has no policies.",
            ),
        ],
        output: &[],
    },
    OperationHelp {
        service: "iot",
        operation: "DeleteJob",
        summary: "Delete a job and its executions; the job reads DELETION_IN_PROGRESS until the background sweep has removed them.",
        input: &[
            (
                "jobId",
                "The job to delete; once it is gone, its id is free again.",
            ),
            (
                "force",
                "Also delete a job that is still IN_PROGRESS, with the executions its devices are running; without it only COMPLETED and CANCELED jobs can be deleted.",
            ),
            ("namespaceId", IGNORED_NAMESPACE),
        ],
        output: &[],
    },
    OperationHelp {
        service: "iot",
        operation: "DeleteJobExecution",
        summary: "Delete one execution record of a job on a thing.",
        input: &[
            ("jobId", "The job of the execution to delete."),
            ("thingName", "The thing of the execution to delete."),
            (
                "executionNumber",
                "Which of the thing's executions of that job, by number (describe-job-execution shows it).",
            ),
            (
                "force",
                "Also delete an execution that is IN_PROGRESS; without it only QUEUED and finished executions can be deleted.",
            ),
            ("namespaceId", IGNORED_NAMESPACE),
        ],
        output: &[],
    },
    OperationHelp {
        service: "iot",
        operation: "DeleteJobTemplate",
        summary: "Delete a job template; jobs already made from it are not affected, as they keep their own copy of what they took.",
        input: &[("jobTemplateId", "The template to delete.")],
        output: &[],
    },
    OperationHelp {
        service: "iot",
        operation: "DeleteThing",
        summary: "Delete a thing: it leaves its groups, its QUEUED and IN_PROGRESS executions become REMOVED, finished ones are kept.",
        input: &[
            (
                "thingName",
                "The thing to delete. An unknown thing is not an error; a thing that still has certificates attached is refused until they are detached.",
            ),
            (
                "expectedVersion",
                "Delete only while the thing's version (describe-thing) is this one; otherwise VersionConflictException.",
            ),
        ],
        output: &[],
    },
    OperationHelp {
        service: "iot",
        operation: "DeleteThingGroup",
        summary: "Delete a thing group that has no child groups; its things leave it.",
        input: &[
            (
                "thingGroupName",
                "The group to delete. An unknown group is not an error; a group with child groups is refused until they are deleted.",
            ),
            (
                "expectedVersion",
                "Delete only while the group's version (describe-thing-group) is this one; otherwise VersionConflictException.",
            ),
        ],
        output: &[],
    },
    OperationHelp {
        service: "iot",
        operation: "DescribeCertificate",
        summary: "Show a registered certificate: status, PEM, dates and validity period.",
        input: &[(
            "certificateId",
            "Which certificate to show, by its id (64 hex digits).",
        )],
        output: &[(
            "certificateDescription",
            "The certificate: ARN, id, status, PEM, owning account, creation and last-change dates, customerVersion (1 plus the number of status changes), generationId and the validity period read from the certificate.",
        )],
    },
    OperationHelp {
        service: "iot",
        operation: "DescribeEndpoint",
        summary: "Print the host and port where clients reach this iotjobs server for a kind of endpoint.",
        input: &[(
            "endpointType",
            "Which endpoint, in any letter case: iot:Data or iot:Data-ATS give the MQTT address devices connect to (the HTTP one when the server has no MQTT), iot:CredentialProvider the HTTP one; without it, iot:Data. iot:Jobs, which AWS retired, and other names are refused.",
        )],
        output: &[(
            "endpointAddress",
            "Where this server is reached, HOST[:PORT]: serve --public-http-address or --public-mqtt-address, else the address it listens on (not an amazonaws.com name).",
        )],
    },
    OperationHelp {
        service: "iot",
        operation: "DescribeJob",
        summary: "Show a job: status, targets, settings, and how many of its executions are in each status.",
        input: &[
            ("jobId", "The job to show."),
            ("beforeSubstitution", NO_SUBSTITUTION),
        ],
        output: &[
            (
                "documentSource",
                "The URL given as the job's document source, when it has one.",
            ),
            (
                "job",
                "The job: status, targets, target selection, description, the settings it was created or updated with (the managed template's ARN and the documentParameters included), dates, and jobProcessDetails, the exact count of its executions in each status.",
            ),
        ],
    },
    OperationHelp {
        service: "iot",
        operation: "DescribeJobExecution",
        summary: "Show one thing's execution of a job, as an operator sees it.",
        input: &[
            ("jobId", "The job of the execution."),
            ("thingName", "The thing of the execution."),
            ("executionNumber", EXECUTION_NUMBER_IN),
        ],
        output: &[(
            "execution",
            "The execution: status, status details, versionNumber, executionNumber, when it was queued, started and last updated, whether it was force-canceled, and the seconds left while a timeout timer runs.",
        )],
    },
    OperationHelp {
        service: "iot",
        operation: "DescribeJobTemplate",
        summary: "Show a job template: its document and the settings its jobs start with.",
        input: &[("jobTemplateId", "The template to show.")],
        output: &[
            ("jobTemplateArn", "The template's ARN."),
            ("jobTemplateId", "The template's id."),
            (
                "description",
                "The description the template was created with.",
            ),
            (
                "documentSource",
                "The URL of the job document, when the template has one instead of an inline document.",
            ),
            (
                "document",
                "The job document, when the template holds one inline.",
            ),
            ("createdAt", "When the template was created."),
            (
                "presignedUrlConfig",
                "The presigned-URL settings its jobs take, if any.",
            ),
            (
                "jobExecutionsRolloutConfig",
                "The rollout rate its jobs take, if any.",
            ),
            ("abortConfig", "The abort criteria its jobs take, if any."),
            (
                "timeoutConfig",
                "The in-progress timeout its jobs take, if any.",
            ),
            (
                "jobExecutionsRetryConfig",
                "The retry criteria its jobs take, if any.",
            ),
            (
                "maintenanceWindows",
                "The maintenance windows its jobs take, if any.",
            ),
            (
                "destinationPackageVersions",
                "The package version ARNs its jobs take, if any.",
            ),
        ],
    },
    OperationHelp {
        service: "iot",
        operation: "DescribeManagedJobTemplate",
        summary: "Show one of the AWS managed job templates that iotjobs ships: its parameters and its job document.",
        input: &[
            (
                "templateName",
                "The template's name, e.g. AWS-Reboot (list-managed-job-templates shows them all).",
            ),
            (
                "templateVersion",
                "Which version of it; without it, 1.0, the one version each template has.",
            ),
        ],
        output: &[
            ("templateName", "The template's name."),
            (
                "templateArn",
                "The template's ARN, to give create-job as --job-template-arn; it has no account, as the templates belong to no account.",
            ),
            ("description", "What the template has a device do."),
            ("templateVersion", "The version shown."),
            (
                "environments",
                "Where its device-side handlers run (LINUX for all of them).",
            ),
            (
                "documentParameters",
                "The values create-job takes in --document-parameters: each one's key, what it is for, the regex a value must match, an example, and whether it may be left out.",
            ),
            (
                "document",
                "The job document, with a ${aws:iot:parameter:KEY} placeholder where each parameter's value goes.",
            ),
        ],
    },
    OperationHelp {
        service: "iot",
        operation: "DescribeThing",
        summary: "Show a thing: id, ARN, attributes, recorded type and version.",
        input: &[("thingName", "The thing to show.")],
        output: &[
            (
                "defaultClientId",
                "The MQTT client id its device connects with: the thing's name.",
            ),
            ("thingName", "The thing's name."),
            (
                "thingId",
                "The unique id iotjobs gave the thing when it was created.",
            ),
            ("thingArn", "The thing's ARN, the form a job's targets use."),
            ("thingTypeName", "The thing type recorded for it, if any."),
            ("attributes", "Its attributes, names mapped to values."),
            (
                "version",
                "Its version: 1 when created, plus 1 per update-thing. Pass it as --expected-version to update or delete the thing only if nobody changed it meanwhile.",
            ),
            (
                "billingGroupName",
                "The billing group recorded for it, if any.",
            ),
        ],
    },
    OperationHelp {
        service: "iot",
        operation: "DescribeThingGroup",
        summary: "Show a thing group: description, attributes, parent chain and version.",
        input: &[("thingGroupName", "The group to show.")],
        output: &[
            ("thingGroupName", "The group's name."),
            (
                "thingGroupId",
                "The unique id iotjobs gave the group when it was created.",
            ),
            (
                "thingGroupArn",
                "The group's ARN, the form a job's targets use.",
            ),
            (
                "version",
                "Its version: 1 when created, plus 1 per update-thing-group; usable as --expected-version.",
            ),
            ("thingGroupProperties", "Its description and attributes."),
            (
                "thingGroupMetadata",
                "Its parent group, the chain of groups from the root down to that parent, and when it was created.",
            ),
            ("indexName", "Never set: iotjobs has static groups only."),
            ("queryString", "Never set: iotjobs has static groups only."),
            ("queryVersion", "Never set: iotjobs has static groups only."),
            ("status", "Never set: iotjobs has static groups only."),
        ],
    },
    OperationHelp {
        service: "iot",
        operation: "DetachThingPrincipal",
        summary: "Detach a certificate from a thing; a device using it can no longer connect as that thing.",
        input: &[
            ("thingName", "The thing to detach the certificate from."),
            (
                "principal",
                "The certificate's ARN. Detaching one that is not attached is not an error. Live MQTT connections that use it are closed at the server's next certificate check.",
            ),
        ],
        output: &[],
    },
    OperationHelp {
        service: "iot",
        operation: "GetJobDocument",
        summary: "Print a job's document as it was stored.",
        input: &[
            ("jobId", "The job whose document to print."),
            ("beforeSubstitution", NO_SUBSTITUTION),
        ],
        output: &[(
            "document",
            "The job document as create-job received it, or as it was read from --document-source, with its presigned-URL placeholders as written.",
        )],
    },
    OperationHelp {
        service: "iot",
        operation: "ListCertificates",
        summary: "List the account's registered certificates, newest first.",
        input: &[
            (
                "pageSize",
                "Certificates per response (25 when not given). On the command line --page-size is the CLI's own paging option, which here also sets this member and prints a single page with its nextMarker.",
            ),
            (
                "marker",
                "Continue an earlier listing: the nextMarker its last page ended with. Giving it turns the CLI's automatic paging off.",
            ),
            (
                "ascendingOrder",
                "List the oldest certificates first instead of the newest (by creation date).",
            ),
        ],
        output: &[
            (
                "certificates",
                "One entry per certificate: ARN, id, status, mode and creation date.",
            ),
            (
                "nextMarker",
                "Set when more certificates follow; pass it back as --marker for the next page. The CLI does so by itself unless paging is off.",
            ),
        ],
    },
    OperationHelp {
        service: "iot",
        operation: "ListJobExecutionsForJob",
        summary: "List the executions of one job, ordered by thing name.",
        input: &[
            ("jobId", "The job whose executions to list."),
            ("status", "Only executions in this status."),
            ("maxResults", MAX_RESULTS_IN),
            ("nextToken", NEXT_TOKEN_IN),
        ],
        output: &[
            (
                "executionSummaries",
                "One entry per execution: the thing's ARN, and the execution's status, number and times.",
            ),
            ("nextToken", NEXT_TOKEN_OUT),
        ],
    },
    OperationHelp {
        service: "iot",
        operation: "ListJobExecutionsForThing",
        summary: "List one thing's executions of all jobs, ordered by job id.",
        input: &[
            ("thingName", "The thing whose executions to list."),
            ("status", "Only executions in this status."),
            ("namespaceId", IGNORED_NAMESPACE),
            ("maxResults", MAX_RESULTS_IN),
            ("nextToken", NEXT_TOKEN_IN),
            (
                "jobId",
                "Only the executions of this job (several when a CONTINUOUS job queued the thing again).",
            ),
        ],
        output: &[
            (
                "executionSummaries",
                "One entry per execution: the job id, and the execution's status, number and times.",
            ),
            ("nextToken", NEXT_TOKEN_OUT),
        ],
    },
    OperationHelp {
        service: "iot",
        operation: "ListJobTemplates",
        summary: "List the account's job templates in id order; the CLI fetches every page unless told otherwise.",
        input: &[("maxResults", MAX_RESULTS_IN), ("nextToken", NEXT_TOKEN_IN)],
        output: &[
            (
                "jobTemplates",
                "One entry per template: its ARN, id, description and creation time.",
            ),
            ("nextToken", NEXT_TOKEN_OUT),
        ],
    },
    OperationHelp {
        service: "iot",
        operation: "ListJobs",
        summary: "List the account's jobs, ordered by job id.",
        input: &[
            ("status", "Only jobs in this status."),
            (
                "targetSelection",
                "Only SNAPSHOT jobs, or only CONTINUOUS ones.",
            ),
            ("maxResults", MAX_RESULTS_IN),
            ("nextToken", NEXT_TOKEN_IN),
            (
                "thingGroupName",
                "Only jobs whose targets include this thing group.",
            ),
            (
                "thingGroupId",
                "Not supported: this filter is refused with InvalidRequestException; use --thing-group-name.",
            ),
            ("namespaceId", IGNORED_NAMESPACE),
        ],
        output: &[
            (
                "jobs",
                "One entry per job: id, ARN, status, target selection and dates.",
            ),
            ("nextToken", NEXT_TOKEN_OUT),
        ],
    },
    OperationHelp {
        service: "iot",
        operation: "ListManagedJobTemplates",
        summary: "List the AWS managed job templates that iotjobs ships (download a file, install or remove packages, start, stop or restart services, reboot, run a command), ordered by name.",
        input: &[
            (
                "templateName",
                "Only the versions of this template; a name no template has is ResourceNotFoundException.",
            ),
            ("maxResults", MAX_RESULTS_IN),
            ("nextToken", NEXT_TOKEN_IN),
        ],
        output: &[
            (
                "managedJobTemplates",
                "One entry per template version: ARN, name, description, environments and version.",
            ),
            ("nextToken", NEXT_TOKEN_OUT),
        ],
    },
    OperationHelp {
        service: "iot",
        operation: "ListThingGroups",
        summary: "List thing groups by name: all of them, or those below a parent group.",
        input: &[
            ("nextToken", NEXT_TOKEN_IN),
            ("maxResults", MAX_RESULTS_IN),
            (
                "parentGroup",
                "Only groups below this one; an unknown group is ResourceNotFoundException.",
            ),
            (
                "namePrefixFilter",
                "Only groups whose name starts with this text (case matters).",
            ),
            (
                "recursive",
                "--recursive (what you get when neither is given): every level below, or every group without --parent-group. --no-recursive: one level only, the parent's children or the root groups.",
            ),
        ],
        output: &[
            ("thingGroups", "The name and ARN of each group."),
            ("nextToken", NEXT_TOKEN_OUT),
        ],
    },
    OperationHelp {
        service: "iot",
        operation: "ListThingGroupsForThing",
        summary: "List the groups a thing is directly in (not their parents), by name.",
        input: &[
            ("thingName", "The thing whose groups to list."),
            ("nextToken", NEXT_TOKEN_IN),
            ("maxResults", MAX_RESULTS_IN),
        ],
        output: &[
            ("thingGroups", "The name and ARN of each group."),
            ("nextToken", NEXT_TOKEN_OUT),
        ],
    },
    OperationHelp {
        service: "iot",
        operation: "ListThingPrincipals",
        summary: "List the certificates attached to a thing, as ARNs.",
        input: &[
            ("nextToken", NEXT_TOKEN_IN),
            ("maxResults", MAX_RESULTS_IN),
            ("thingName", "The thing whose certificates to list."),
        ],
        output: &[
            (
                "principals",
                "The certificate ARNs, ordered by certificate id.",
            ),
            ("nextToken", NEXT_TOKEN_OUT),
        ],
    },
    OperationHelp {
        service: "iot",
        operation: "ListThings",
        summary: "List the account's things by name, optionally only those with an attribute or thing type.",
        input: &[
            ("nextToken", NEXT_TOKEN_IN),
            ("maxResults", MAX_RESULTS_IN),
            (
                "attributeName",
                "Only things that have this attribute (with --attribute-value: with that value).",
            ),
            (
                "attributeValue",
                "Only things whose --attribute-name attribute has this value; refused without --attribute-name.",
            ),
            (
                "thingTypeName",
                "Only things recorded with this thing type.",
            ),
            (
                "usePrefixAttributeValue",
                "Match --attribute-value as the start of the value rather than the whole value.",
            ),
        ],
        output: &[
            (
                "things",
                "One entry per thing: name, ARN, recorded type, attributes and version.",
            ),
            ("nextToken", NEXT_TOKEN_OUT),
        ],
    },
    OperationHelp {
        service: "iot",
        operation: "ListThingsInThingGroup",
        summary: "List the names of the things in a thing group.",
        input: &[
            ("thingGroupName", "The group whose things to list."),
            (
                "recursive",
                "Also list the things of the group's descendant groups, each once.",
            ),
            ("nextToken", NEXT_TOKEN_IN),
            ("maxResults", MAX_RESULTS_IN),
        ],
        output: &[
            ("things", "The thing names, in name order."),
            ("nextToken", NEXT_TOKEN_OUT),
        ],
    },
    OperationHelp {
        service: "iot",
        operation: "RegisterCertificateWithoutCA",
        summary: "Register a device's X.509 certificate, given as PEM, so that it can be attached to a thing.",
        input: &[
            (
                "certificatePem",
                "The certificate: exactly one PEM CERTIFICATE block. Its signature and dates are not checked; the same certificate cannot be registered twice.",
            ),
            (
                "status",
                "ACTIVE (the default) or INACTIVE; other statuses are refused.",
            ),
        ],
        output: &[
            (
                "certificateArn",
                "The new certificate's ARN, to give to attach-thing-principal.",
            ),
            ("certificateId", CERT_ID_OUT),
        ],
    },
    OperationHelp {
        service: "iot",
        operation: "RemoveThingFromThingGroup",
        summary: "Take a thing out of a thing group; a CONTINUOUS job that no longer targets it marks its QUEUED execution REMOVED.",
        input: &[
            (
                "thingGroupName",
                "The group to take the thing out of, by name; give this or --thing-group-arn.",
            ),
            ("thingGroupArn", GROUP_ARN_INSTEAD),
            (
                "thingName",
                "The thing to take out, by name; give this or --thing-arn. Its IN_PROGRESS executions are left to finish.",
            ),
            ("thingArn", THING_ARN_INSTEAD),
        ],
        output: &[],
    },
    OperationHelp {
        service: "iot",
        operation: "UpdateCertificate",
        summary: "Change a certificate's status: ACTIVE, INACTIVE, or REVOKED for good.",
        input: &[
            (
                "certificateId",
                "Which certificate to change, by its id (64 hex digits).",
            ),
            (
                "newStatus",
                "ACTIVE or INACTIVE (back and forth), or REVOKED, which cannot be undone; the other statuses are refused. A device whose certificate is no longer ACTIVE cannot connect, and its live connection is closed at the server's next certificate check.",
            ),
        ],
        output: &[],
    },
    OperationHelp {
        service: "iot",
        operation: "UpdateJob",
        summary: "Change a job's description or settings.",
        input: &[
            (
                "jobId",
                "The job to change; a job being deleted is refused.",
            ),
            ("description", "The job's new description."),
            ("presignedUrlConfig", STORED_PRESIGNED),
            (
                "jobExecutionsRolloutConfig",
                "A new rollout rate, applied from the current minute on.",
            ),
            (
                "abortConfig",
                "New abort criteria, applied at once to the failures counted so far.",
            ),
            (
                "timeoutConfig",
                "A new inProgressTimeoutInMinutes; executions that start from now on get it, running ones keep theirs.",
            ),
            ("namespaceId", IGNORED_NAMESPACE),
            (
                "jobExecutionsRetryConfig",
                "New retry criteria; once a job exists, numberOfRetries can only be set to 0.",
            ),
        ],
        output: &[],
    },
    OperationHelp {
        service: "iot",
        operation: "UpdateThing",
        summary: "Change a thing's attributes or recorded thing type; each update adds 1 to its version.",
        input: &[
            ("thingName", "The thing to change."),
            (
                "thingTypeName",
                "A new thing type to record (not checked); refused together with --remove-thing-type.",
            ),
            (
                "attributePayload",
                "New attributes. With merge=true the given ones are set and one given as an empty string is dropped; otherwise the given map takes the place of all attributes. Leaving it out keeps them.",
            ),
            (
                "expectedVersion",
                "Change the thing only while its version is this one; otherwise VersionConflictException.",
            ),
            (
                "removeThingType",
                "Clear the thing type recorded for the thing.",
            ),
        ],
        output: &[],
    },
    OperationHelp {
        service: "iot",
        operation: "UpdateThingGroup",
        summary: "Change a thing group's description or attributes; each update adds 1 to its version.",
        input: &[
            ("thingGroupName", "The group to change."),
            (
                "thingGroupProperties",
                "A new description (an empty string clears it) and attributes, merged or replaced as update-thing does it.",
            ),
            (
                "expectedVersion",
                "Change the group only while its version is this one; otherwise VersionConflictException.",
            ),
        ],
        output: &[("version", "The group's version after this update.")],
    },
    OperationHelp {
        service: "iot-jobs-data",
        operation: "DescribeJobExecution",
        summary: "Show one of a thing's executions as its device sees it, with the job document.",
        input: &[
            (
                "jobId",
                "The job, or $next for the execution start-next-pending-job-execution would pick (nothing is started). An execution that has already finished is refused with TerminalStateException.",
            ),
            ("thingName", "The device's thing."),
            (
                "includeJobDocument",
                "Answer with the job document, which is what happens when it is not given; --no-include-job-document leaves the document out.",
            ),
            (
                "executionNumber",
                "Pick one execution by its number; without it, the thing's latest execution of that job.",
            ),
        ],
        output: &[(
            "execution",
            "The execution: job id, status, status details, versionNumber, executionNumber, times and the job document; absent when $next finds nothing pending.",
        )],
    },
    OperationHelp {
        service: "iot-jobs-data",
        operation: "GetPendingJobExecutions",
        summary: "List a thing's unfinished executions: the IN_PROGRESS ones and the QUEUED ones.",
        input: &[("thingName", "The device's thing.")],
        output: &[
            (
                "inProgressJobs",
                "The executions the device has started, oldest first.",
            ),
            (
                "queuedJobs",
                "The executions waiting to be started, oldest first. The two lists hold at most 10 executions together, IN_PROGRESS ones first.",
            ),
        ],
    },
    OperationHelp {
        service: "iot-jobs-data",
        operation: "StartNextPendingJobExecution",
        summary: "Give the device its next execution: the one it already runs, else its oldest QUEUED one, which becomes IN_PROGRESS.",
        input: &[
            ("thingName", "The device's thing."),
            (
                "statusDetails",
                "Name-value pairs (at most 10) stored on the execution this call starts; one already IN_PROGRESS keeps its own.",
            ),
            (
                "stepTimeoutInMinutes",
                "Minutes (1 to 10080) the device has before the started execution becomes TIMED_OUT unless it reports again; never later than the job's in-progress timeout.",
            ),
        ],
        output: &[(
            "execution",
            "The started (or already running) execution with its job document; absent when nothing is pending.",
        )],
    },
    OperationHelp {
        service: "iot-jobs-data",
        operation: "UpdateJobExecution",
        summary: "Report an execution's progress or outcome from the device.",
        input: &[
            ("jobId", "The job of the execution to report on."),
            ("thingName", "The device's thing."),
            (
                "status",
                "IN_PROGRESS to report progress, or SUCCEEDED, FAILED or REJECTED to finish it. The other statuses are refused with InvalidStateTransitionException, as is any update of a finished execution.",
            ),
            (
                "statusDetails",
                "Name-value pairs (at most 10) that replace the execution's status details; without it they stay as they are.",
            ),
            (
                "stepTimeoutInMinutes",
                "With IN_PROGRESS: restart the step timer with this many minutes (1 to 10080), or -1 to stop it; without it the timer keeps running.",
            ),
            (
                "expectedVersion",
                "Update only while the execution's versionNumber is this one; otherwise nothing changes and the call fails with InvalidRequestException.",
            ),
            (
                "includeJobExecutionState",
                "Answer with the execution's state after the update (status, status details, version).",
            ),
            ("includeJobDocument", "Answer with the job document too."),
            (
                "executionNumber",
                "Pick one execution by its number; without it, the thing's latest execution of that job.",
            ),
        ],
        output: &[
            (
                "executionState",
                "The execution's state after the update, when --include-job-execution-state was given.",
            ),
            (
                "jobDocument",
                "The job document, when --include-job-document was given.",
            ),
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SERVICES as MODEL_SERVICES, Service};

    fn served(service: &Service) -> impl Iterator<Item = &'static iotjobs_model::OperationDef> {
        service.model.ops.iter().filter(|op| service.is_served(op))
    }

    /// `The jobId member.` and the like: the generated boilerplate this table replaces.
    fn is_boilerplate(text: &str, member: &str) -> bool {
        let t = text.trim();
        t.eq_ignore_ascii_case(&format!("The {member} member."))
            || t.eq_ignore_ascii_case(&format!("The {member} member"))
            || (t.starts_with("The ") && t.trim_end_matches('.').ends_with(" member"))
    }

    fn check_sentence(what: &str, text: &str) {
        assert!(!text.trim().is_empty(), "{what}: empty text");
        assert!(
            text.ends_with('.') || text.ends_with(')'),
            "{what}: not a sentence (no final period): {text:?}"
        );
        assert!(
            text.chars().next().is_some_and(|c| !c.is_lowercase()),
            "{what}: starts in lower case: {text:?}"
        );
        assert!(
            !text.contains('<') && !text.contains('\n'),
            "{what}: markup or a line break: {text:?}"
        );
    }

    #[test]
    fn every_served_operation_and_member_has_a_text() {
        let mut missing = Vec::new();
        for service in MODEL_SERVICES {
            for op in served(service) {
                let Some(help) = operation(service.cli_name, op.name) else {
                    missing.push(format!("{} {}: no entry", service.cli_name, op.name));
                    continue;
                };
                for (members, table, kind) in [
                    (op.input, help.input, "input"),
                    (op.output, help.output, "output"),
                ] {
                    let members = members
                        .and_then(|n| service.shape(n))
                        .map_or(&[][..], |s| s.members);
                    for m in members {
                        if find(table, m.name).is_none() {
                            missing.push(format!(
                                "{} {} {kind} member {}",
                                service.cli_name, op.name, m.name
                            ));
                        }
                    }
                    // Same members, same order: nothing stale, nothing twice.
                    let names: Vec<&str> = members.iter().map(|m| m.name).collect();
                    let ours: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
                    assert!(
                        missing.iter().any(|m| m.contains(op.name)) || names == ours,
                        "{} {} {kind} members: the model has {names:?}, help_text.rs {ours:?}",
                        service.cli_name,
                        op.name
                    );
                }
            }
        }
        assert!(
            missing.is_empty(),
            "help_text.rs has no text for:\n  {}",
            missing.join("\n  ")
        );
    }

    #[test]
    fn every_entry_is_a_served_operation_once() {
        for (i, help) in OPERATIONS.iter().enumerate() {
            let service = Service::by_cli_name(help.service)
                .unwrap_or_else(|| panic!("{}: no such service", help.service));
            assert!(
                service.model.is_served(help.operation),
                "help_text.rs describes {} {}, which is not a served operation",
                help.service,
                help.operation
            );
            assert!(
                !OPERATIONS[..i]
                    .iter()
                    .any(|o| o.service == help.service && o.operation == help.operation),
                "{} {} is in help_text.rs twice",
                help.service,
                help.operation
            );
        }
        for (name, _) in SERVICES {
            assert!(Service::by_cli_name(name).is_some(), "{name}");
        }
        for service in MODEL_SERVICES {
            assert!(service_summary(service.cli_name).is_some());
        }
    }

    #[test]
    fn texts_are_sentences_and_not_the_old_boilerplate() {
        for help in OPERATIONS {
            let op = format!("{} {}", help.service, help.operation);
            check_sentence(&op, help.summary);
            for (name, text) in help.input.iter().chain(help.output) {
                let what = format!("{op} {name}");
                check_sentence(&what, text);
                assert!(
                    !is_boilerplate(text, name),
                    "{what}: {text:?} is the old boilerplate"
                );
            }
        }
    }

    #[test]
    fn the_boilerplate_check_can_fail() {
        assert!(is_boilerplate("The force member.", "force"));
        assert!(is_boilerplate("The thingName member", "thingName"));
        assert!(!is_boilerplate(
            operation("iot", "CancelJobExecution")
                .unwrap()
                .input_member("force")
                .unwrap(),
            "force"
        ));
    }

    /// Lower-case words of a text, HTML tags and punctuation dropped.
    fn words(text: &str) -> Vec<String> {
        let mut plain = String::with_capacity(text.len());
        let mut in_tag = false;
        for c in text.chars() {
            match c {
                '<' => in_tag = true,
                '>' => {
                    in_tag = false;
                    plain.push(' ');
                }
                _ if in_tag => {}
                c if c.is_alphanumeric() => plain.extend(c.to_lowercase()),
                _ => plain.push(' '),
            }
        }
        plain.split_whitespace().map(str::to_owned).collect()
    }

    /// Every `documentation` string of a botocore model.
    fn documentation(v: &crate::pyjson::Value, out: &mut Vec<String>) {
        use crate::pyjson::Value;
        match v {
            Value::Dict(d) => {
                for (k, v) in d.iter() {
                    match (k.as_str(), v) {
                        ("documentation", Value::Str(s)) => out.push(s.clone()),
                        _ => documentation(v, out),
                    }
                }
            }
            Value::List(items) => items.iter().for_each(|v| documentation(v, out)),
            _ => {}
        }
    }

    /// Runs of this many words in a row shared with AWS's documentation mean copying.
    const SHINGLE: usize = 6;

    fn shingles(words: &[String]) -> impl Iterator<Item = String> + '_ {
        words.windows(SHINGLE).map(|w| w.join(" "))
    }

    /// The texts are ours: none shares a run of [`SHINGLE`] words with the botocore models'
    /// documentation (read here, in the test only; never by the binary).
    #[test]
    fn no_text_repeats_aws_documentation() {
        let mut aws = std::collections::HashSet::new();
        for file in ["iot.service-2.json", "iot-jobs-data.service-2.json"] {
            let path = format!(
                "{}/../../../shared/aws-models/{file}",
                env!("CARGO_MANIFEST_DIR")
            );
            let Ok(text) = std::fs::read_to_string(&path) else {
                // CI lays ../shared beside the clone; a checkout without it has nothing to compare.
                return;
            };
            let model = crate::pyjson::loads(&text, false).expect("botocore model JSON");
            let mut docs = Vec::new();
            documentation(&model, &mut docs);
            for doc in docs {
                aws.extend(shingles(&words(&doc)));
            }
        }
        assert!(!aws.is_empty());
        let mut copied = Vec::new();
        let all =
            SERVICES
                .iter()
                .map(|(n, t)| (n.to_string(), *t))
                .chain(OPERATIONS.iter().flat_map(|h| {
                    std::iter::once((format!("{} {}", h.service, h.operation), h.summary)).chain(
                        h.input
                            .iter()
                            .chain(h.output)
                            .map(move |(n, t)| (format!("{} {} {n}", h.service, h.operation), *t)),
                    )
                }));
        for (what, text) in all {
            let ws = words(text);
            if let Some(s) = shingles(&ws).find(|s| aws.contains(s)) {
                copied.push(format!("{what}: \"{s}\""));
            }
        }
        assert!(
            copied.is_empty(),
            "these texts repeat AWS's documentation word for word; say it in our own words:\n  {}",
            copied.join("\n  ")
        );
    }

    #[test]
    fn the_copy_check_can_fail() {
        let ws = words("<p>Cancels the <b>execution</b> of a job for a given thing.</p>");
        assert_eq!(
            ws,
            [
                "cancels",
                "the",
                "execution",
                "of",
                "a",
                "job",
                "for",
                "a",
                "given",
                "thing"
            ]
        );
        assert_eq!(shingles(&ws).count(), ws.len() - SHINGLE + 1);
    }
}
