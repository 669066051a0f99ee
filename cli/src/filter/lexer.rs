//! Splitting a filter expression into tokens, each with its byte position for error carets.

use super::FilterError;

/// A token of a filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    /// `=`, `!=`, `<`, `<=`, `>`, `>=`.
    Op(&'static str),
    /// `!` on its own (negation).
    Bang,
    Str(String),
    Num(f64),
    /// A keyword, a field name (`http.status`, `annotation.key`) or `true`/`false`.
    Word(String),
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::LBrace => "'{'".into(),
            Tok::RBrace => "'}'".into(),
            Tok::Comma => "','".into(),
            Tok::Op(op) => format!("'{op}'"),
            Tok::Bang => "'!'".into(),
            Tok::Str(s) => format!("the string {s:?}"),
            Tok::Num(n) => format!("the number {n}"),
            Tok::Word(w) => format!("'{w}'"),
        }
    }
}

/// A token and the byte range it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

fn word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

/// Tokenizes `text`.
pub fn lex(text: &str) -> Result<Vec<Token>, FilterError> {
    let mut tokens = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let at = |i: usize| chars.get(i).map(|(_, c)| *c);
    let pos = |i: usize| chars.get(i).map_or(text.len(), |(p, _)| *p);
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let single = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '{' => Some(Tok::LBrace),
            '}' => Some(Tok::RBrace),
            ',' => Some(Tok::Comma),
            _ => None,
        };
        if let Some(tok) = single {
            tokens.push(Token {
                tok,
                start,
                end: start + 1,
            });
            i += 1;
            continue;
        }
        match c {
            '=' | '!' | '<' | '>' => {
                let next_eq = at(i + 1) == Some('=');
                let tok = match (c, next_eq) {
                    ('=', true) => {
                        return Err(FilterError::new(start, "use '=' to compare, not '=='"));
                    }
                    ('=', false) => Tok::Op("="),
                    ('!', true) => Tok::Op("!="),
                    ('!', false) => Tok::Bang,
                    ('<', true) => Tok::Op("<="),
                    ('<', false) => Tok::Op("<"),
                    ('>', true) => Tok::Op(">="),
                    _ => Tok::Op(">"),
                };
                let width = if next_eq { 2 } else { 1 };
                tokens.push(Token {
                    tok,
                    start,
                    end: start + width,
                });
                i += width;
            }
            '"' => {
                let mut value = String::new();
                let mut j = i + 1;
                loop {
                    match at(j) {
                        None => {
                            return Err(FilterError::new(start, "this string has no closing '\"'"))
                        }
                        Some('"') => break,
                        Some('\\') => match at(j + 1) {
                            Some(e @ ('"' | '\\')) => {
                                value.push(e);
                                j += 2;
                            }
                            _ => {
                                return Err(FilterError::new(
                                    pos(j),
                                    "only \\\" and \\\\ are escapes in a string",
                                ))
                            }
                        },
                        Some(other) => {
                            value.push(other);
                            j += 1;
                        }
                    }
                }
                tokens.push(Token {
                    tok: Tok::Str(value),
                    start,
                    end: pos(j + 1),
                });
                i = j + 1;
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '.') && at(i + 1).is_some_and(|n| n.is_ascii_digit())) =>
            {
                let mut j = i + 1;
                while at(j).is_some_and(|n| n.is_ascii_digit() || n == '.') {
                    j += 1;
                }
                let literal = &text[start..pos(j)];
                if at(j).is_some_and(word_char) {
                    return Err(FilterError::new(
                        start,
                        format!("{literal}{}… is not a number", at(j).unwrap_or(' ')),
                    ));
                }
                let value: f64 = literal
                    .parse()
                    .map_err(|_| FilterError::new(start, format!("{literal} is not a number")))?;
                tokens.push(Token {
                    tok: Tok::Num(value),
                    start,
                    end: pos(j),
                });
                i = j;
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut j = i + 1;
                while at(j).is_some_and(word_char) {
                    j += 1;
                }
                tokens.push(Token {
                    tok: Tok::Word(text[start..pos(j)].to_string()),
                    start,
                    end: pos(j),
                });
                i = j;
            }
            other => {
                return Err(FilterError::new(
                    start,
                    format!("unexpected character {other:?}"),
                ))
            }
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<Tok> {
        lex(text).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn tokens_and_positions() {
        assert_eq!(
            toks("service(\"a b\") AND duration >= 2.5 OR !fault"),
            vec![
                Tok::Word("service".into()),
                Tok::LParen,
                Tok::Str("a b".into()),
                Tok::RParen,
                Tok::Word("AND".into()),
                Tok::Word("duration".into()),
                Tok::Op(">="),
                Tok::Num(2.5),
                Tok::Word("OR".into()),
                Tok::Bang,
                Tok::Word("fault".into()),
            ]
        );
        assert_eq!(
            toks("annotation.DDB.key != -1"),
            vec![
                Tok::Word("annotation.DDB.key".into()),
                Tok::Op("!="),
                Tok::Num(-1.0),
            ]
        );
        assert_eq!(
            toks("\"q\\\"uote\\\\\""),
            vec![Tok::Str("q\"uote\\".into())]
        );
        let t = lex("é = \"ü\"").unwrap_err();
        assert_eq!(t.position, 0);
        let t = lex("x = \"ü\" y").unwrap();
        assert_eq!((t[2].start, t[2].end), (4, 8));
    }

    #[test]
    fn lexical_errors_point_at_the_culprit() {
        for (text, position, message) in [
            ("duration == 2", 9, "use '='"),
            ("http.url CONTAINS \"/x", 18, "no closing"),
            ("a = \"\\n\"", 5, "escapes"),
            ("duration > 2s", 11, "is not a number"),
            ("duration > 1.2.3", 11, "is not a number"),
            ("fault $", 6, "unexpected character '$'"),
        ] {
            let e = lex(text).unwrap_err();
            assert_eq!(e.position, position, "{text}");
            assert!(e.message.contains(message), "{text}: {}", e.message);
        }
    }
}
