//! Email addresses from names: folded to ASCII, and capitalised as HR sometimes types them.

/// Makes a name usable in an email address: `Łukasz Müller` → `lukasz.mueller`.
pub(super) fn ascii_fold(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for character in name.to_lowercase().chars() {
        match character {
            'ä' => out.push_str("ae"),
            'ö' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            'ł' => out.push('l'),
            'ø' => out.push('o'),
            'é' | 'ë' | 'è' | 'ę' => out.push('e'),
            'á' | 'à' | 'å' | 'ą' => out.push('a'),
            'í' => out.push('i'),
            'ó' => out.push('o'),
            'ç' | 'ć' => out.push('c'),
            'ń' => out.push('n'),
            'ś' => out.push('s'),
            'ż' | 'ź' => out.push('z'),
            'ê' => out.push('e'),
            '-' => out.push('-'),
            other if other.is_ascii_alphanumeric() => out.push(other),
            _ => {}
        }
    }
    out
}

/// `anna.mueller@acme.example` → `Anna.Mueller@Acme.Example`.
pub(super) fn capitalise_parts(email: &str) -> String {
    let mut out = String::with_capacity(email.len());
    let mut start_of_part = true;
    for character in email.chars() {
        if start_of_part {
            out.extend(character.to_uppercase());
        } else {
            out.push(character);
        }
        start_of_part = matches!(character, '.' | '@');
    }
    out
}
