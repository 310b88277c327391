"""The git side of `codegen-hook ci`: what a pull request changed, and delivery.

`changes`: the stubs a request added or changed (`changed_stubs`), and whether the work
tree is head (`ensure_checked_out`). `deliver`: a commit on top of head, a push that never
forces, or a `git am` patch. Library code: nothing here prints.
"""
