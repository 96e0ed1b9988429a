//! The words generated employees are made of, and how often HR types each yes/no value.

pub(super) const FIRST_NAMES: &[&str] = &[
    "Anna",
    "Lukas",
    "Jürgen",
    "Łukasz",
    "José",
    "Søren",
    "Zoë",
    "Mia",
    "Élodie",
    "Björn",
    "Ömer",
    "Chloé",
    "Jan",
    "Ana-María",
    "Małgorzata",
    "François",
    "Leon",
    "Sofia",
    "Inês",
    "Nikolai",
];
pub(super) const LAST_NAMES: &[&str] = &[
    "Müller",
    "Schmidt",
    "Nowak",
    "García",
    "Sørensen",
    "Łukasiewicz",
    "Weiß",
    "Öztürk",
    "Dubois",
    "Kowalski",
    "Becker",
    "Fischer",
    "Hoffmann",
    "van der Berg",
    "O'Brien",
    "Schäfer",
    "Jensen",
    "Rossi",
    "Novák",
    "Lindqvist",
];
pub(super) const DEPARTMENTS: &[&str] = &[
    "Engineering",
    "Sales",
    "Marketing",
    "Customer Support",
    "Finance",
    "Human Resources",
    "Operations",
    "Produktion",
    "Logistik",
];
pub(super) const TEAMS: &[&str] = &[
    "Platform",
    "Mobile",
    "Data",
    "Inside Sales",
    "Field Sales",
    "Brand",
    "Payroll",
    "Recruiting",
    "Lager Nord",
    "Schicht A",
];
pub(super) const OFFICES: &[&str] = &["Munich", "Berlin", "Hamburg", "Wien", "Zürich", "Remote"];
pub(super) const SUBCOMPANIES: &[&str] = &["Acme GmbH", "Acme Austria GmbH", "Acme Schweiz AG"];
pub(super) const POSITIONS: &[&str] = &[
    "Software Engineer",
    "Senior Software Engineer",
    "Sales Manager",
    "Account Executive",
    "Marketing Specialist",
    "Support Agent",
    "Controller",
    "HR Business Partner",
    "Lagerist",
    "Teamleiter Produktion",
    "Werkstudent",
];
pub(super) const TAGS: &[&str] = &[
    "remote",
    "first-aider",
    "Betriebsrat",
    "mentor",
    "fire-warden",
];
/// Yes/no values as HR types them, with their cumulative shares.
pub(super) const LMS_SYNC_VALUES: &[(f64, Option<&str>)] = &[
    (0.30, Some("ja")),
    (0.50, Some("yes")),
    (0.55, Some("Ja")),
    (0.60, Some("Yes")),
    (0.72, Some("nein")),
    (0.82, Some("no")),
    (0.91, Some("")),
    (1.00, None),
];
pub(super) const GENDERS: &[&str] = &["male", "female", "diverse"];
pub(super) const WEEKLY_HOURS: &[&str] = &["40", "38.5", "32", "20"];
pub(super) const TERMINATION_TYPES: &[&str] = &["employee", "employer", "mutual"];
pub(super) const TERMINATION_REASONS: &[&str] = &["Neue Stelle", "Umzug", "Ende der Befristung"];
