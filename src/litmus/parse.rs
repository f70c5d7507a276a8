//! A hand-written lexer and recursive-descent parser for herd7's C litmus dialect.
//!
//! The header (`C name`, generator metadata, a quoted doc string, `(* *)` comments) is read
//! line by line, since test names and metadata values hold characters no C token has
//! (`C-LB-Lwr+R-D`, `Prefetch=0:x=F,0:y=W`). From the `{` of the initial state on, the text is
//! tokenized. The parser never panics: every failure, including input cut off anywhere, is a
//! [`ParseError`]; nesting is bounded so that hostile input cannot overflow the stack.

use super::ast::*;

/// Why a litmus file could not be parsed.
///
/// A construct outside the supported subset (a loop, an array, a struct member) has a message
/// starting with `unsupported: `; anything else is a syntax error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line of the offending text.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl ParseError {
    fn new(line: usize, message: impl Into<String>) -> Self {
        ParseError {
            line,
            message: message.into(),
        }
    }

    fn unsupported(line: usize, what: impl std::fmt::Display) -> Self {
        ParseError {
            line,
            message: format!("unsupported: {what}"),
        }
    }

    /// Whether this is a construct outside the supported subset rather than a syntax error.
    pub fn is_unsupported(&self) -> bool {
        self.message.starts_with("unsupported: ")
    }
}

type PResult<T> = Result<T, ParseError>;

/// Deepest nesting of expressions, statements and conditions accepted; real tests nest a few
/// levels, and recursion without a bound would let `((((...` overflow the stack.
const MAX_DEPTH: usize = 100;

/// Parses a whole litmus test.
pub fn parse(src: &str) -> PResult<Test> {
    let (header, body_start, body_line) = parse_header(src)?;
    let toks = lex(&src[body_start..], body_line)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let init = p.init_block()?;
    let mut procs = Vec::new();
    while let Some(n) = p.peek_proc_header() {
        procs.push(p.process(n)?);
    }
    if procs.is_empty() {
        return Err(ParseError::new(
            p.line(),
            format!("expected a process `P0(...)`, found {}", p.describe()),
        ));
    }
    let (locations, filter, fin) = p.final_section()?;
    Ok(Test {
        name: header.name,
        doc: header.doc,
        header_comments: header.comments,
        metadata: header.metadata,
        init,
        procs,
        locations,
        filter,
        fin,
    })
}

struct Header {
    name: String,
    doc: Option<String>,
    comments: Vec<String>,
    metadata: Vec<(String, String)>,
}

/// Reads `C name` and what follows up to the `{` of the initial state; returns the header, the
/// byte offset of that `{` and its line.
fn parse_header(src: &str) -> PResult<(Header, usize, usize)> {
    let mut c = Cursor { src, pos: 0, line: 1 };
    c.skip_ws();
    let arch_line = c.line;
    let first = c.rest_of_line();
    let mut words = first.split_whitespace();
    match words.next() {
        Some("C") => {}
        Some(arch) => {
            return Err(ParseError::unsupported(
                arch_line,
                format!("litmus language `{arch}` (only C tests are supported)"),
            ))
        }
        None => return Err(ParseError::new(arch_line, "empty file: expected `C <name>`")),
    }
    let name = words
        .next()
        .ok_or_else(|| ParseError::new(arch_line, "expected a test name after `C`"))?
        .to_string();
    let mut doc_string = None;
    let mut comments: Vec<String> = Vec::new();
    let mut metadata = Vec::new();
    loop {
        c.skip_ws();
        let line = c.line;
        if c.at_end() {
            return Err(ParseError::new(
                line,
                "expected the initial state `{ ... }`, found end of file",
            ));
        }
        if c.starts_with("(*") {
            comments.push(c.herd_comment()?);
        } else if c.starts_with("\"") {
            c.advance(1);
            let text = c
                .take_until('"')
                .ok_or_else(|| ParseError::new(line, "unterminated string"))?;
            doc_string.get_or_insert(text);
        } else if c.starts_with("{") {
            break;
        } else {
            let text = c.rest_of_line();
            match text.split_once('=') {
                Some((k, v)) if is_ident(k.trim()) => {
                    metadata.push((k.trim().to_string(), v.trim().to_string()))
                }
                _ => {
                    return Err(ParseError::new(
                        line,
                        format!("expected the initial state `{{ ... }}`, found `{}`", text.trim()),
                    ))
                }
            }
        }
    }
    let doc = doc_string
        .or_else(|| comments.first().cloned())
        .map(|d| d.trim().to_string());
    Ok((
        Header {
            name,
            doc,
            comments,
            metadata,
        },
        c.pos,
        c.line,
    ))
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A position in the source, counting lines.
struct Cursor<'a> {
    src: &'a str,
    pos: usize,
    line: usize,
}

impl Cursor<'_> {
    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn rest(&self) -> &str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn starts_with(&self, s: &str) -> bool {
        self.rest().starts_with(s)
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn advance(&mut self, bytes: usize) {
        let end = (self.pos + bytes).min(self.src.len());
        self.line += self.src[self.pos..end].matches('\n').count();
        self.pos = end;
    }

    fn bump(&mut self) -> Option<char> {
        let ch = self.peek()?;
        self.advance(ch.len_utf8());
        Some(ch)
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(c) if c.is_whitespace()) {
            self.bump();
        }
    }

    /// The rest of the current line, consuming the newline.
    fn rest_of_line(&mut self) -> String {
        let rest = self.rest();
        let n = rest.find('\n').map_or(rest.len(), |i| i + 1);
        let text = rest[..n].trim_end().to_string();
        self.advance(n);
        text
    }

    /// Text up to `end`, consuming both; `None` at end of input.
    fn take_until(&mut self, end: char) -> Option<String> {
        let i = self.rest().find(end)?;
        let text = self.rest()[..i].to_string();
        self.advance(i + end.len_utf8());
        Some(text)
    }

    /// A herd comment `(* ... *)`, which nests as in OCaml; at `(*`. Returns its inside.
    fn herd_comment(&mut self) -> PResult<String> {
        let line = self.line;
        self.advance(2);
        let start = self.pos;
        let mut depth = 1usize;
        loop {
            if self.at_end() {
                return Err(ParseError::new(line, "unterminated comment `(*`"));
            }
            if self.starts_with("*)") {
                depth -= 1;
                if depth == 0 {
                    let text = self.src[start..self.pos].to_string();
                    self.advance(2);
                    return Ok(text);
                }
                self.advance(2);
            } else if self.starts_with("(*") && is_comment_open(self.rest()) {
                depth += 1;
                self.advance(2);
            } else {
                self.bump();
            }
        }
    }
}

/// Whether `(*` at the start of `s` opens a herd comment: in code, `(*x` and `(*(int **)x`
/// are dereferences, so only `(*` followed by white space or `)` counts.
fn is_comment_open(s: &str) -> bool {
    s.starts_with("(*") && matches!(s[2..].chars().next(), None | Some(' ' | '\t' | '\n' | '\r' | ')'))
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Int(i64),
    Punct(&'static str),
    Eof,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    line: usize,
}

/// Longest first, so that `<<` wins over `<`.
const PUNCTS: &[&str] = &[
    "<<=", ">>=", "/\\", "\\/", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "->", "++", "--", "+=", "-=",
    "*=", "/=", "%=", "&=", "|=", "^=", "(", ")", "{", "}", "[", "]", ";", ",", "*", "&", "=", "<", ">", "+",
    "-", "/", "%", "!", "~", "^", "|", ":", "?", ".", "#",
];

fn lex(src: &str, first_line: usize) -> PResult<Vec<Token>> {
    let mut c = Cursor {
        src,
        pos: 0,
        line: first_line,
    };
    let mut toks = Vec::new();
    loop {
        c.skip_ws();
        let line = c.line;
        let Some(ch) = c.peek() else {
            toks.push(Token { tok: Tok::Eof, line });
            return Ok(toks);
        };
        if c.starts_with("//") {
            c.rest_of_line();
        } else if c.starts_with("/*") {
            c.advance(2);
            if c.take_until_str("*/").is_none() {
                return Err(ParseError::new(line, "unterminated comment `/*`"));
            }
        } else if is_comment_open(c.rest()) {
            c.herd_comment()?;
        } else if ch.is_ascii_alphabetic() || ch == '_' {
            let rest = c.rest();
            let n = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let word = rest[..n].to_string();
            c.advance(n);
            toks.push(Token {
                tok: Tok::Ident(word),
                line,
            });
        } else if ch.is_ascii_digit() {
            let rest = c.rest();
            let n = rest
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(rest.len());
            let text = &rest[..n];
            let parsed = if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                i64::from_str_radix(hex, 16)
            } else {
                // C integer suffixes (`1UL`) change nothing in a 64-bit model.
                text.trim_end_matches(['u', 'U', 'l', 'L']).parse::<i64>()
            };
            let v = parsed.map_err(|_| ParseError::new(line, format!("bad integer `{text}`")))?;
            c.advance(n);
            toks.push(Token {
                tok: Tok::Int(v),
                line,
            });
        } else if let Some(p) = PUNCTS.iter().find(|p| c.starts_with(p)) {
            c.advance(p.len());
            toks.push(Token {
                tok: Tok::Punct(p),
                line,
            });
        } else if ch == '"' || ch == '\'' {
            return Err(ParseError::unsupported(
                line,
                "string or character literal in code",
            ));
        } else {
            return Err(ParseError::new(line, format!("unexpected character `{ch}`")));
        }
    }
}

impl Cursor<'_> {
    fn take_until_str(&mut self, end: &str) -> Option<()> {
        let i = self.rest().find(end)?;
        self.advance(i + end.len());
        Some(())
    }
}

/// Words that start a type: base types, qualifiers and `struct`.
const TYPE_WORDS: &[&str] = &[
    "int",
    "intptr_t",
    "uintptr_t",
    "long",
    "unsigned",
    "signed",
    "short",
    "char",
    "bool",
    "_Bool",
    "void",
    "atomic_t",
    "atomic_long_t",
    "spinlock_t",
    "raw_spinlock_t",
    "struct",
    "const",
    "volatile",
    "u8",
    "u16",
    "u32",
    "u64",
    "s8",
    "s16",
    "s32",
    "s64",
    "size_t",
];

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn tok(&self) -> &Tok {
        self.toks.get(self.pos).map_or(&Tok::Eof, |t| &t.tok)
    }

    fn tok_at(&self, ahead: usize) -> &Tok {
        self.toks.get(self.pos + ahead).map_or(&Tok::Eof, |t| &t.tok)
    }

    fn line(&self) -> usize {
        self.toks.get(self.pos).or(self.toks.last()).map_or(1, |t| t.line)
    }

    fn next(&mut self) -> Tok {
        let t = self.tok().clone();
        if self.pos < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn describe(&self) -> String {
        describe(self.tok())
    }

    fn is(&self, p: &str) -> bool {
        matches!(self.tok(), Tok::Punct(q) if *q == p)
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.tok(), Tok::Ident(x) if x == w)
    }

    fn eat(&mut self, p: &str) -> bool {
        if self.is(p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, p: &str) -> PResult<()> {
        if self.eat(p) {
            Ok(())
        } else {
            Err(self.error(format!("expected `{p}`, found {}", self.describe())))
        }
    }

    fn ident(&mut self, what: &str) -> PResult<String> {
        match self.tok() {
            Tok::Ident(x) => {
                let x = x.clone();
                self.pos += 1;
                Ok(x)
            }
            _ => Err(self.error(format!("expected {what}, found {}", self.describe()))),
        }
    }

    fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError::new(self.line(), message)
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            Err(self.error(format!("unsupported: nesting deeper than {MAX_DEPTH} levels")))
        } else {
            Ok(())
        }
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn at_type(&self) -> bool {
        matches!(self.tok(), Tok::Ident(x) if TYPE_WORDS.contains(&x.as_str()))
    }

    /// A type: qualifiers, base words (`unsigned long`, `struct srcu_struct`), then `*`s.
    fn ctype(&mut self) -> PResult<CType> {
        let mut words: Vec<String> = Vec::new();
        loop {
            match self.tok() {
                Tok::Ident(w) if w == "const" || w == "volatile" => {
                    self.pos += 1;
                }
                Tok::Ident(w) if w == "struct" => {
                    self.pos += 1;
                    let tag = self.ident("a struct name")?;
                    words.push(format!("struct {tag}"));
                }
                Tok::Ident(w) if TYPE_WORDS.contains(&w.as_str()) => {
                    words.push(w.clone());
                    self.pos += 1;
                }
                _ => break,
            }
        }
        if words.is_empty() {
            return Err(self.error(format!("expected a type, found {}", self.describe())));
        }
        let mut pointers = 0;
        loop {
            if self.eat("*") {
                pointers += 1;
            } else if self.is_word("const") || self.is_word("volatile") {
                self.pos += 1;
            } else {
                break;
            }
        }
        Ok(CType {
            base: words.join(" "),
            pointers,
        })
    }

    // ---- initial state ----

    fn init_block(&mut self) -> PResult<Vec<InitEntry>> {
        self.expect("{")?;
        let mut entries = Vec::new();
        loop {
            if self.eat("}") {
                return Ok(entries);
            }
            if self.eat(";") {
                continue;
            }
            if *self.tok() == Tok::Eof {
                return Err(self.error("unterminated initial state: expected `}`"));
            }
            entries.push(self.init_entry()?);
            if !self.is("}") {
                self.expect(";")?;
            }
        }
    }

    fn init_entry(&mut self) -> PResult<InitEntry> {
        let line = self.line();
        let ty = if self.at_type() { Some(self.ctype()?) } else { None };
        let target = if let (Tok::Int(n), Tok::Punct(":")) = (self.tok().clone(), self.tok_at(1)) {
            self.pos += 2;
            let reg = self.ident("a register name")?;
            let proc = usize::try_from(n).map_err(|_| self.error("bad process number"))?;
            InitTarget::Reg { proc, reg }
        } else {
            InitTarget::Var(self.ident("a location name")?)
        };
        if self.is("[") {
            return Err(self.error("unsupported: array in the initial state"));
        }
        let value = if self.eat("=") {
            Some(self.init_value()?)
        } else {
            None
        };
        if value.is_none() && ty.is_none() {
            return Err(self.error(format!(
                "expected `=` after `{}`, found {}",
                target_name(&target),
                self.describe()
            )));
        }
        Ok(InitEntry {
            line,
            ty,
            target,
            value,
        })
    }

    fn init_value(&mut self) -> PResult<InitValue> {
        let neg = self.eat("-");
        match self.next() {
            Tok::Int(v) => Ok(InitValue::Int(if neg { v.wrapping_neg() } else { v })),
            Tok::Punct("&") if !neg => Ok(InitValue::AddrOf(self.ident("a location after `&`")?)),
            Tok::Ident(w) if w == "ATOMIC_INIT" && !neg => {
                self.expect("(")?;
                let neg = self.eat("-");
                let v = match self.next() {
                    Tok::Int(v) => v,
                    t => {
                        return Err(self.error(format!(
                            "expected an integer in ATOMIC_INIT, found {}",
                            describe(&t)
                        )))
                    }
                };
                self.expect(")")?;
                Ok(InitValue::Int(if neg { v.wrapping_neg() } else { v }))
            }
            Tok::Ident(w) if !neg => {
                if self.is("(") {
                    return Err(self.error(format!("unsupported: initializer `{w}(...)`")));
                }
                Ok(InitValue::AddrOf(w))
            }
            Tok::Punct("{") => Err(self.error("unsupported: brace initializer (array or struct)")),
            t => Err(self.error(format!("expected an initial value, found {}", describe(&t)))),
        }
    }

    // ---- processes ----

    fn peek_proc_header(&self) -> Option<usize> {
        match self.tok() {
            Tok::Ident(w)
                if w.len() > 1 && w.starts_with('P') && w[1..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                w[1..].parse().ok()
            }
            _ => None,
        }
    }

    fn process(&mut self, index: usize) -> PResult<Process> {
        let line = self.line();
        self.pos += 1;
        self.expect("(")?;
        let mut params = Vec::new();
        if self.is_word("void") && matches!(self.tok_at(1), Tok::Punct(")")) {
            self.pos += 1;
        }
        if !self.eat(")") {
            loop {
                let ty = self.ctype()?;
                let name = self.ident("a parameter name")?;
                params.push(Param { ty, name });
                if self.eat(")") {
                    break;
                }
                self.expect(",")?;
            }
        }
        self.expect("{")?;
        let body = self.stmts_until_brace()?;
        Ok(Process {
            index,
            line,
            params,
            body,
        })
    }

    /// Statements up to and including the closing `}`.
    fn stmts_until_brace(&mut self) -> PResult<Vec<Stmt>> {
        let mut body = Vec::new();
        loop {
            if self.eat("}") {
                return Ok(body);
            }
            if *self.tok() == Tok::Eof {
                return Err(self.error("unterminated block: expected `}`"));
            }
            self.stmt(&mut body)?;
        }
    }

    /// One statement, appended to `out` (a declaration with several declarators adds several).
    fn stmt(&mut self, out: &mut Vec<Stmt>) -> PResult<()> {
        self.enter()?;
        let r = self.stmt_inner(out);
        self.leave();
        r
    }

    fn stmt_inner(&mut self, out: &mut Vec<Stmt>) -> PResult<()> {
        let line = self.line();
        if self.eat(";") {
            return Ok(());
        }
        if self.eat("{") {
            out.push(Stmt::Block(self.stmts_until_brace()?));
            return Ok(());
        }
        if let Tok::Ident(w) = self.tok() {
            match w.as_str() {
                "if" => {
                    self.pos += 1;
                    self.expect("(")?;
                    let cond = self.expr()?;
                    self.expect(")")?;
                    let mut then = Vec::new();
                    self.stmt(&mut then)?;
                    let mut els = Vec::new();
                    if self.is_word("else") {
                        self.pos += 1;
                        self.stmt(&mut els)?;
                    }
                    out.push(Stmt::If {
                        line,
                        cond,
                        then,
                        els,
                    });
                    return Ok(());
                }
                "while" | "for" | "do" => return Err(self.error(format!("unsupported: `{w}` loop"))),
                "switch" | "return" | "goto" | "break" | "continue" | "case" | "default" => {
                    return Err(self.error(format!("unsupported: `{w}` statement")))
                }
                "else" => return Err(self.error("`else` without `if`")),
                "typedef" | "static" | "extern" => {
                    return Err(self.error(format!("unsupported: `{w}` declaration")))
                }
                _ => {}
            }
        }
        // A cast such as `(void)f(x);` starts with `(`, so only a type word starts a declaration.
        if self.at_type() {
            let base = self.ctype()?;
            loop {
                let mut ty = base.clone();
                while self.eat("*") {
                    ty.pointers += 1;
                }
                let line = self.line();
                let name = self.ident("a variable name")?;
                if self.is("[") {
                    return Err(self.error("unsupported: local array"));
                }
                if self.is("(") {
                    return Err(self.error("unsupported: function declaration in a process body"));
                }
                let init = if self.eat("=") { Some(self.expr()?) } else { None };
                out.push(Stmt::Decl { line, ty, name, init });
                if !self.eat(",") {
                    break;
                }
            }
            return self.expect(";");
        }
        let lhs = self.expr()?;
        let stmt = if self.eat("=") {
            let rhs = self.expr()?;
            Stmt::Assign { line, lhs, rhs }
        } else if let Tok::Punct(
            op @ ("+=" | "-=" | "*=" | "/=" | "%=" | "&=" | "|=" | "^=" | "<<=" | ">>="),
        ) = self.tok()
        {
            return Err(self.error(format!("unsupported: compound assignment `{op}`")));
        } else {
            Stmt::Expr { line, expr: lhs }
        };
        self.expect(";")?;
        out.push(stmt);
        Ok(())
    }

    // ---- expressions ----

    fn expr(&mut self) -> PResult<Expr> {
        self.enter()?;
        let r = self.ternary();
        self.leave();
        r
    }

    fn ternary(&mut self) -> PResult<Expr> {
        let c = self.binary(0)?;
        if self.eat("?") {
            let a = self.expr()?;
            self.expect(":")?;
            let b = self.expr()?;
            return Ok(Expr::Ternary(Box::new(c), Box::new(a), Box::new(b)));
        }
        Ok(c)
    }

    /// Precedence climbing over C's binary operators, loosest level first.
    fn binary(&mut self, level: usize) -> PResult<Expr> {
        const LEVELS: &[&[(&str, BinOp)]] = &[
            &[("||", BinOp::Or)],
            &[("&&", BinOp::And)],
            &[("|", BinOp::BitOr)],
            &[("^", BinOp::BitXor)],
            &[("&", BinOp::BitAnd)],
            &[("==", BinOp::Eq), ("!=", BinOp::Ne)],
            &[
                ("<", BinOp::Lt),
                ("<=", BinOp::Le),
                (">", BinOp::Gt),
                (">=", BinOp::Ge),
            ],
            &[("<<", BinOp::Shl), (">>", BinOp::Shr)],
            &[("+", BinOp::Add), ("-", BinOp::Sub)],
            &[("*", BinOp::Mul), ("/", BinOp::Div), ("%", BinOp::Rem)],
        ];
        let Some(ops) = LEVELS.get(level) else {
            return self.unary();
        };
        let mut lhs = self.binary(level + 1)?;
        while let Some(&(_, op)) = ops.iter().find(|(p, _)| self.is(p)) {
            self.pos += 1;
            let rhs = self.binary(level + 1)?;
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> PResult<Expr> {
        self.enter()?;
        let r = self.unary_inner();
        self.leave();
        r
    }

    fn unary_inner(&mut self) -> PResult<Expr> {
        let e = match self.tok() {
            Tok::Punct("*") => {
                self.pos += 1;
                Expr::Deref(Box::new(self.unary()?))
            }
            Tok::Punct("&") => {
                self.pos += 1;
                Expr::AddrOf(Box::new(self.unary()?))
            }
            Tok::Punct("-") => {
                self.pos += 1;
                match self.unary()? {
                    Expr::Int(v) => Expr::Int(v.wrapping_neg()),
                    e => Expr::Unary(UnOp::Neg, Box::new(e)),
                }
            }
            Tok::Punct("+") => {
                self.pos += 1;
                self.unary()?
            }
            Tok::Punct("!") => {
                self.pos += 1;
                Expr::Unary(UnOp::Not, Box::new(self.unary()?))
            }
            Tok::Punct("~") => {
                self.pos += 1;
                Expr::Unary(UnOp::BitNot, Box::new(self.unary()?))
            }
            Tok::Punct(op @ ("++" | "--")) => {
                return Err(self.error(format!("unsupported: increment/decrement `{op}`")))
            }
            Tok::Punct("(") if matches!(self.tok_at(1), Tok::Ident(w) if TYPE_WORDS.contains(&w.as_str())) => {
                self.pos += 1;
                let ty = self.ctype()?;
                self.expect(")")?;
                Expr::Cast(ty, Box::new(self.unary()?))
            }
            _ => self.postfix()?,
        };
        Ok(e)
    }

    fn postfix(&mut self) -> PResult<Expr> {
        let line = self.line();
        let e = match self.next() {
            Tok::Int(v) => Expr::Int(v),
            Tok::Ident(name) => {
                if self.eat("(") {
                    let mut args = Vec::new();
                    if !self.eat(")") {
                        loop {
                            args.push(self.expr()?);
                            if self.eat(")") {
                                break;
                            }
                            self.expect(",")?;
                        }
                    }
                    Expr::Call { line, name, args }
                } else {
                    Expr::Var(name)
                }
            }
            Tok::Punct("(") => {
                let e = self.expr()?;
                self.expect(")")?;
                e
            }
            t => {
                self.pos = self.pos.saturating_sub(1);
                return Err(self.error(format!("expected an expression, found {}", describe(&t))));
            }
        };
        match self.tok() {
            Tok::Punct("[") => Err(self.error("unsupported: array indexing")),
            Tok::Punct("->" | ".") => Err(self.error("unsupported: struct member access")),
            Tok::Punct(op @ ("++" | "--")) => {
                Err(self.error(format!("unsupported: increment/decrement `{op}`")))
            }
            _ => Ok(e),
        }
    }

    // ---- final section ----

    fn final_section(&mut self) -> PResult<(Vec<Loc>, Option<Cond>, Option<Final>)> {
        let mut locations = Vec::new();
        let mut filter = None;
        let mut fin = None;
        loop {
            let line = self.line();
            match self.tok().clone() {
                Tok::Eof => return Ok((locations, filter, fin)),
                Tok::Ident(w) if w == "locations" => {
                    self.pos += 1;
                    self.expect("[")?;
                    while !self.eat("]") {
                        if self.eat(";") {
                            continue;
                        }
                        locations.push(self.loc()?);
                    }
                }
                Tok::Ident(w) if w == "filter" => {
                    self.pos += 1;
                    if filter.is_some() {
                        return Err(self.error("a second `filter` clause"));
                    }
                    filter = Some(self.cond()?);
                }
                Tok::Ident(w) if w == "exists" || w == "forall" => {
                    self.pos += 1;
                    let quantifier = if w == "exists" {
                        Quantifier::Exists
                    } else {
                        Quantifier::Forall
                    };
                    fin = Some(self.final_clause(line, quantifier, fin.is_some())?);
                }
                Tok::Punct("~") if matches!(self.tok_at(1), Tok::Ident(w) if w == "exists") => {
                    self.pos += 2;
                    fin = Some(self.final_clause(line, Quantifier::NotExists, fin.is_some())?);
                }
                Tok::Ident(w) if w.starts_with('P') && self.peek_proc_header().is_some() => {
                    return Err(self.error(format!("process `{w}` after the final clause")));
                }
                _ => {
                    return Err(self.error(format!(
                        "expected `exists`, `~exists`, `forall`, `filter` or `locations`, found {}",
                        self.describe()
                    )))
                }
            }
        }
    }

    fn final_clause(&mut self, line: usize, quantifier: Quantifier, again: bool) -> PResult<Final> {
        if again {
            return Err(ParseError::new(line, "a second final clause"));
        }
        Ok(Final {
            line,
            quantifier,
            cond: self.cond()?,
        })
    }

    fn loc(&mut self) -> PResult<Loc> {
        match (self.tok().clone(), self.tok_at(1)) {
            (Tok::Int(n), Tok::Punct(":")) => {
                self.pos += 2;
                let reg = self.ident("a register name")?;
                let proc = usize::try_from(n).map_err(|_| self.error("bad process number"))?;
                Ok(Loc::Reg { proc, reg })
            }
            (Tok::Ident(x), _) => {
                self.pos += 1;
                if self.is("[") {
                    return Err(self.error("unsupported: array element in a condition"));
                }
                Ok(Loc::Var(x))
            }
            (Tok::Punct("*"), _) => Err(self.error("unsupported: dereference `*` in a condition")),
            (t, _) => Err(self.error(format!(
                "expected a location (`x` or `0:r1`), found {}",
                describe(&t)
            ))),
        }
    }

    fn cond(&mut self) -> PResult<Cond> {
        self.enter()?;
        let r = self.cond_or();
        self.leave();
        r
    }

    fn cond_or(&mut self) -> PResult<Cond> {
        let mut c = self.cond_and()?;
        while self.eat("\\/") {
            let rhs = self.cond_and()?;
            c = Cond::Or(Box::new(c), Box::new(rhs));
        }
        Ok(c)
    }

    fn cond_and(&mut self) -> PResult<Cond> {
        let mut c = self.cond_unary()?;
        while self.eat("/\\") {
            let rhs = self.cond_unary()?;
            c = Cond::And(Box::new(c), Box::new(rhs));
        }
        Ok(c)
    }

    fn cond_unary(&mut self) -> PResult<Cond> {
        self.enter()?;
        let r = self.cond_unary_inner();
        self.leave();
        r
    }

    fn cond_unary_inner(&mut self) -> PResult<Cond> {
        if self.eat("~") {
            return Ok(Cond::Not(Box::new(self.cond_unary()?)));
        }
        if self.eat("(") {
            let c = self.cond()?;
            self.expect(")")?;
            return Ok(c);
        }
        if self.is_word("true") || self.is_word("false") {
            let b = self.is_word("true");
            self.pos += 1;
            return Ok(Cond::Const(b));
        }
        if self.is_word("not") || self.is_word("if") {
            return Err(self.error(format!("unsupported: `{}` in a condition", self.describe())));
        }
        let lhs = self.loc()?;
        let negated = if self.eat("=") || self.eat("==") {
            false
        } else if self.eat("!=") {
            true
        } else {
            return Err(self.error(format!(
                "expected `=` or `!=` after `{lhs}`, found {}",
                self.describe()
            )));
        };
        let neg = self.eat("-");
        let rhs = match (self.next(), self.tok_at(0)) {
            (Tok::Int(n), Tok::Punct(":")) if !neg => {
                self.pos += 1;
                let reg = self.ident("a register name")?;
                let proc = usize::try_from(n).map_err(|_| self.error("bad process number"))?;
                CondRhs::Reg { proc, reg }
            }
            (Tok::Int(v), _) => CondRhs::Int(if neg { v.wrapping_neg() } else { v }),
            (Tok::Ident(x), _) if !neg => CondRhs::Addr(x),
            (t, _) => return Err(self.error(format!("expected a value after `=`, found {}", describe(&t)))),
        };
        Ok(Cond::Atom { lhs, rhs, negated })
    }
}

fn target_name(t: &InitTarget) -> String {
    match t {
        InitTarget::Var(x) => x.clone(),
        InitTarget::Reg { proc, reg } => format!("{proc}:{reg}"),
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(x) => format!("`{x}`"),
        Tok::Int(v) => format!("`{v}`"),
        Tok::Punct(p) => format!("`{p}`"),
        Tok::Eof => "end of file".to_string(),
    }
}
