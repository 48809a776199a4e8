//! The registry's lifecycle on the read side: proposing documents from what landed in
//! `extra` ([`suggest`], with the type rules of [`infer`]) and reading earlier registry
//! versions for the evolution check ([`source`]; the rules are [`schemas::evolution`]).

pub mod infer;
pub mod render;
pub mod source;
pub mod suggest;
