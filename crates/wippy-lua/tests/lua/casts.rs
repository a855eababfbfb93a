//! Wippy's casts as calls (reference §10): `string(x)`, `number(x)`,
//! `integer(x)`, `boolean(x)` return a value of the type as it is, convert
//! one that can be, and raise `cannot cast <type> to <T>` otherwise; the
//! string library is still the string library.

use wippy_process::Payload;

use crate::common::*;

#[test]
fn casts_keep_convert_or_raise() {
    let r = run(r#"
        local function why(f, x)
            local ok, err = pcall(f, x)
            return ok and "no error" or tostring(err)
        end
        return {
            s = string("pid"), s_num = string(12), s_err = string(errors.new("boom")),
            n = number("1.5"), n_hex = number("0x10"), i = integer(3), i_text = integer("42"),
            b = boolean(false), b_text = boolean("true"),
            bad_s = why(string, {}), bad_n = why(number, "x"), bad_i = why(integer, 1.5),
            bad_b = why(boolean, 1),
            lib = string.upper("x") .. ("y"):upper(),
        }
    "#);
    assert_eq!(text(&r, "s"), "pid");
    assert_eq!(text(&r, "s_num"), "12");
    assert_eq!(text(&r, "s_err"), "boom");
    assert_eq!(r.get("n"), Some(&Payload::Float(1.5)));
    assert_eq!(r.get("n_hex"), Some(&Payload::Int(16)));
    assert_eq!(r.get("i"), Some(&Payload::Int(3)));
    assert_eq!(r.get("i_text"), Some(&Payload::Int(42)));
    assert_eq!(r.get("b"), Some(&Payload::Bool(false)));
    assert_eq!(r.get("b_text"), Some(&Payload::Bool(true)));
    assert_eq!(text(&r, "bad_s"), "cannot cast table to string");
    assert_eq!(text(&r, "bad_n"), "cannot cast string to number");
    assert_eq!(text(&r, "bad_i"), "cannot cast number to integer");
    assert_eq!(text(&r, "bad_b"), "cannot cast number to boolean");
    assert_eq!(text(&r, "lib"), "XY");
}
