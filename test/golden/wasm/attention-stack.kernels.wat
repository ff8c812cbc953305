 (func $k1_attention_keys (param $0 i32) (param $1 i32) (param $2 i32) (param $3 i32) (param $4 i32) (param $5 i32) (param $6 i32)
  (local $7 i32)
  (local $8 i32)
  (local $9 i32)
  (local $10 f32)
  (local $11 v128)
  (local $12 i32)
  (local $13 i32)
  (local $14 i32)
  (local $15 i32)
  (loop $cont9
   (if
    (i32.lt_s
     (local.get $1)
     (local.get $2)
    )
    (then
     (local.set $14
      (select
       (i32.const 16)
       (local.tee $7
        (i32.sub
         (local.get $2)
         (local.get $1)
        )
       )
       (i32.ge_s
        (local.get $7)
        (i32.const 16)
       )
      )
     )
     (local.set $7
      (i32.const 0)
     )
     (loop $cont0
      (if
       (i32.lt_s
        (local.get $7)
        (i32.const 2)
       )
       (then
        (f32.store
         (i32.add
          (i32.shl
           (local.get $7)
           (i32.const 2)
          )
          (i32.const 288)
         )
         (f32.load
          (i32.add
           (local.get $3)
           (i32.mul
            (local.get $7)
            (i32.const 48)
           )
          )
         )
        )
        (local.set $7
         (i32.add
          (local.get $7)
          (i32.const 1)
         )
        )
        (br $cont0)
       )
      )
     )
     (local.set $9
      (i32.const 0)
     )
     (loop $cont3
      (if
       (i32.lt_s
        (local.get $9)
        (local.get $14)
       )
       (then
        (local.set $7
         (i32.const 0)
        )
        (loop $cont2
         (if
          (i32.lt_s
           (local.get $7)
           (i32.const 2)
          )
          (then
           (local.set $12
            (i32.add
             (local.get $0)
             (i32.shl
              (local.get $7)
              (i32.const 5)
             )
            )
           )
           (local.set $13
            (i32.add
             (local.get $5)
             (i32.shl
              (i32.add
               (i32.shl
                (i32.add
                 (local.get $1)
                 (local.get $9)
                )
                (i32.const 1)
               )
               (local.get $4)
              )
              (i32.const 5)
             )
            )
           )
           (local.set $11
            (v128.const i32x4 0x00000000 0x00000000 0x00000000 0x00000000)
           )
           (local.set $8
            (i32.const 0)
           )
           (loop $cont1
            (if
             (i32.lt_s
              (local.get $8)
              (i32.const 32)
             )
             (then
              (local.set $11
               (f32x4.add
                (local.get $11)
                (f32x4.mul
                 (v128.load align=4
                  (i32.add
                   (local.get $8)
                   (local.get $12)
                  )
                 )
                 (v128.load align=4
                  (i32.add
                   (local.get $8)
                   (local.get $13)
                  )
                 )
                )
               )
              )
              (local.set $8
               (i32.add
                (local.get $8)
                (i32.const 16)
               )
              )
              (br $cont1)
             )
            )
           )
           (f32.store
            (i32.add
             (i32.shl
              (i32.add
               (i32.shl
                (local.get $7)
                (i32.const 4)
               )
               (local.get $9)
              )
              (i32.const 2)
             )
             (i32.const 160)
            )
            (local.tee $10
             (f32.mul
              (f32.add
               (f32.add
                (f32.add
                 (f32.add
                  (f32x4.extract_lane 0
                   (local.get $11)
                  )
                  (f32.const 0)
                 )
                 (f32x4.extract_lane 1
                  (local.get $11)
                 )
                )
                (f32x4.extract_lane 2
                 (local.get $11)
                )
               )
               (f32x4.extract_lane 3
                (local.get $11)
               )
              )
              (f32.const 0.3499999940395355)
             )
            )
           )
           (if
            (f32.gt
             (local.get $10)
             (f32.load
              (local.tee $8
               (i32.add
                (i32.shl
                 (local.get $7)
                 (i32.const 2)
                )
                (i32.const 288)
               )
              )
             )
            )
            (then
             (f32.store
              (local.get $8)
              (local.get $10)
             )
            )
           )
           (local.set $7
            (i32.add
             (local.get $7)
             (i32.const 1)
            )
           )
           (br $cont2)
          )
         )
        )
        (local.set $9
         (i32.add
          (local.get $9)
          (i32.const 1)
         )
        )
        (br $cont3)
       )
      )
     )
     (local.set $7
      (i32.const 0)
     )
     (loop $cont5
      (if
       (i32.lt_s
        (local.get $7)
        (i32.const 2)
       )
       (then
        (local.set $10
         (f32.demote_f64
          (call $exp
           (f64.promote_f32
            (f32.sub
             (f32.load
              (local.tee $8
               (i32.add
                (local.get $3)
                (i32.mul
                 (local.get $7)
                 (i32.const 48)
                )
               )
              )
             )
             (f32.load
              (i32.add
               (i32.shl
                (local.get $7)
                (i32.const 2)
               )
               (i32.const 288)
              )
             )
            )
           )
          )
         )
        )
        (f32.store
         (local.get $8)
         (f32.load
          (i32.add
           (i32.shl
            (local.get $7)
            (i32.const 2)
           )
           (i32.const 288)
          )
         )
        )
        (f32.store offset=4
         (local.get $8)
         (f32.mul
          (f32.load offset=4
           (local.get $8)
          )
          (local.get $10)
         )
        )
        (local.set $9
         (i32.add
          (local.get $8)
          (i32.const 16)
         )
        )
        (local.set $8
         (i32.const 0)
        )
        (loop $cont4
         (if
          (i32.lt_s
           (local.get $8)
           (i32.const 32)
          )
          (then
           (v128.store align=4
            (local.tee $12
             (i32.add
              (local.get $8)
              (local.get $9)
             )
            )
            (f32x4.mul
             (v128.load align=4
              (local.get $12)
             )
             (f32x4.splat
              (local.get $10)
             )
            )
           )
           (local.set $8
            (i32.add
             (local.get $8)
             (i32.const 16)
            )
           )
           (br $cont4)
          )
         )
        )
        (local.set $7
         (i32.add
          (local.get $7)
          (i32.const 1)
         )
        )
        (br $cont5)
       )
      )
     )
     (local.set $9
      (i32.const 0)
     )
     (loop $cont8
      (if
       (i32.lt_s
        (local.get $9)
        (local.get $14)
       )
       (then
        (local.set $7
         (i32.const 0)
        )
        (loop $cont7
         (if
          (i32.lt_s
           (local.get $7)
           (i32.const 2)
          )
          (then
           (local.set $10
            (f32.demote_f64
             (call $exp
              (f64.promote_f32
               (f32.sub
                (f32.load
                 (i32.add
                  (i32.shl
                   (i32.add
                    (i32.shl
                     (local.get $7)
                     (i32.const 4)
                    )
                    (local.get $9)
                   )
                   (i32.const 2)
                  )
                  (i32.const 160)
                 )
                )
                (f32.load
                 (local.tee $8
                  (i32.add
                   (local.get $3)
                   (i32.mul
                    (local.get $7)
                    (i32.const 48)
                   )
                  )
                 )
                )
               )
              )
             )
            )
           )
           (f32.store offset=4
            (local.get $8)
            (f32.add
             (f32.load offset=4
              (local.get $8)
             )
             (local.get $10)
            )
           )
           (local.set $12
            (i32.add
             (local.get $8)
             (i32.const 16)
            )
           )
           (local.set $13
            (i32.add
             (local.get $6)
             (i32.shl
              (i32.add
               (i32.shl
                (i32.add
                 (local.get $1)
                 (local.get $9)
                )
                (i32.const 1)
               )
               (local.get $4)
              )
              (i32.const 5)
             )
            )
           )
           (local.set $8
            (i32.const 0)
           )
           (loop $cont6
            (if
             (i32.lt_s
              (local.get $8)
              (i32.const 32)
             )
             (then
              (v128.store align=4
               (local.tee $15
                (i32.add
                 (local.get $8)
                 (local.get $12)
                )
               )
               (f32x4.add
                (v128.load align=4
                 (local.get $15)
                )
                (f32x4.mul
                 (f32x4.splat
                  (local.get $10)
                 )
                 (v128.load align=4
                  (i32.add
                   (local.get $8)
                   (local.get $13)
                  )
                 )
                )
               )
              )
              (local.set $8
               (i32.add
                (local.get $8)
                (i32.const 16)
               )
              )
              (br $cont6)
             )
            )
           )
           (local.set $7
            (i32.add
             (local.get $7)
             (i32.const 1)
            )
           )
           (br $cont7)
          )
         )
        )
        (local.set $9
         (i32.add
          (local.get $9)
          (i32.const 1)
         )
        )
        (br $cont8)
       )
      )
     )
     (local.set $1
      (i32.add
       (local.get $1)
       (i32.const 16)
      )
     )
     (br $cont9)
    )
   )
  )
 )
 (func $k1_attention (param $0 i32) (param $1 i32)
  (local $2 i32)
  (local $3 i32)
  (local $4 i32)
  (local $5 i32)
  (local $6 f32)
  (local $7 f32)
  (local $8 i32)
  (local $9 i32)
  (local $10 i32)
  (local $11 f32)
  (local $12 i32)
  (local $13 i64)
  (local $14 i64)
  (local $15 i32)
  (if
   (i32.gt_u
    (i32.add
     (local.tee $5
      (i32.load
       (i32.const 65600)
      )
     )
     (local.get $0)
    )
    (i32.const 64)
   )
   (then
    (unreachable)
   )
  )
  (memory.copy
   (i32.add
    (local.tee $3
     (i32.shl
      (local.get $5)
      (i32.const 6)
     )
    )
    (i32.add
     (local.tee $2
      (i32.shl
       (local.get $1)
       (i32.const 12)
      )
     )
     (i32.const 65664)
    )
   )
   (i32.add
    (i32.shl
     (local.get $0)
     (i32.const 7)
    )
    (i32.const 99200)
   )
   (local.tee $4
    (i32.shl
     (local.get $0)
     (i32.const 6)
    )
   )
  )
  (memory.copy
   (i32.add
    (local.get $3)
    (i32.add
     (local.get $2)
     (i32.const 73856)
    )
   )
   (i32.add
    (i32.mul
     (local.get $0)
     (i32.const 192)
    )
    (i32.const 99200)
   )
   (local.get $4)
  )
  (if
   (i32.or
    (i32.lt_s
     (local.tee $9
      (select
       (i32.const 4)
       (local.tee $3
        (i32.div_s
         (i32.add
          (i32.sub
           (local.get $5)
           (local.tee $8
            (select
             (local.tee $2
              (i32.sub
               (local.get $5)
               (i32.const 19)
              )
             )
             (i32.const 0)
             (i32.gt_s
              (local.get $2)
              (i32.const 0)
             )
            )
           )
          )
          (i32.const 16)
         )
         (i32.const 16)
        )
       )
       (i32.gt_s
        (local.get $3)
        (i32.const 4)
       )
      )
     )
     (i32.const 2)
    )
    (i32.gt_s
     (local.get $0)
     (i32.const 1)
    )
   )
   (then
    (block $brk13
     (local.set $4
      (i32.const 0)
     )
     (loop $cont13
      (br_if $brk13
       (i32.ge_s
        (local.get $4)
        (i32.shl
         (local.get $0)
         (i32.const 1)
        )
       )
      )
      (local.set $2
       (i32.shr_u
        (local.get $4)
        (i32.const 1)
       )
      )
      (local.set $8
       (i32.and
        (local.get $4)
        (i32.const 1)
       )
      )
      (memory.fill
       (i32.const 64)
       (i32.const 0)
       (i32.const 96)
      )
      (local.set $3
       (i32.const 0)
      )
      (loop $cont10
       (block $brk10
        (br_if $brk10
         (i32.ge_s
          (local.get $3)
          (i32.const 2)
         )
        )
        (f32.store
         (i32.sub
          (i32.mul
           (local.get $3)
           (i32.const 48)
          )
          (i32.const -64)
         )
         (f32.const -inf)
        )
        (local.set $3
         (i32.add
          (local.get $3)
          (i32.const 1)
         )
        )
        (br $cont10)
       )
      )
      (call $k1_attention_keys
       (i32.add
        (i32.add
         (i32.shl
          (local.get $0)
          (i32.const 9)
         )
         (i32.const 99200)
        )
        (i32.shl
         (local.tee $10
          (i32.add
           (i32.shl
            (local.get $2)
            (i32.const 2)
           )
           (i32.shl
            (local.get $8)
            (i32.const 1)
           )
          )
         )
         (i32.const 5)
        )
       )
       (select
        (local.tee $3
         (i32.sub
          (local.tee $2
           (i32.add
            (local.get $2)
            (local.get $5)
           )
          )
          (i32.const 19)
         )
        )
        (i32.const 0)
        (i32.gt_s
         (local.get $3)
         (i32.const 0)
        )
       )
       (i32.add
        (local.get $2)
        (i32.const 1)
       )
       (i32.const 64)
       (local.get $8)
       (i32.add
        (local.tee $2
         (i32.shl
          (local.get $1)
          (i32.const 12)
         )
        )
        (i32.const 65664)
       )
       (i32.add
        (local.get $2)
        (i32.const 73856)
       )
      )
      (local.set $3
       (i32.const 0)
      )
      (loop $cont12
       (block $brk12
        (br_if $brk12
         (i32.ge_s
          (local.get $3)
          (i32.const 2)
         )
        )
        (local.set $12
         (i32.add
          (i32.add
           (i32.shl
            (local.get $0)
            (i32.const 8)
           )
           (i32.const 99200)
          )
          (i32.shl
           (i32.add
            (local.get $3)
            (local.get $10)
           )
           (i32.const 5)
          )
         )
        )
        (local.set $7
         (f32.add
          (f32.mul
           (f32.load offset=4
            (local.tee $9
             (i32.sub
              (i32.mul
               (local.get $3)
               (i32.const 48)
              )
              (i32.const -64)
             )
            )
           )
           (local.tee $11
            (f32.demote_f64
             (call $exp
              (f64.promote_f32
               (f32.sub
                (local.tee $6
                 (f32.load
                  (local.get $9)
                 )
                )
                (local.tee $6
                 (select
                  (local.tee $7
                   (f32.load
                    (i32.add
                     (i32.add
                      (i32.shl
                       (local.get $1)
                       (i32.const 4)
                      )
                      (i32.const 65536)
                     )
                     (i32.shl
                      (i32.add
                       (i32.shl
                        (local.get $8)
                        (i32.const 1)
                       )
                       (local.get $3)
                      )
                      (i32.const 2)
                     )
                    )
                   )
                  )
                  (local.get $6)
                  (f32.lt
                   (local.get $6)
                   (local.get $7)
                  )
                 )
                )
               )
              )
             )
            )
           )
          )
          (f32.demote_f64
           (call $exp
            (f64.promote_f32
             (f32.sub
              (local.get $7)
              (local.get $6)
             )
            )
           )
          )
         )
        )
        (local.set $2
         (i32.const 0)
        )
        (loop $cont11
         (block $brk11
          (br_if $brk11
           (i32.ge_s
            (local.get $2)
            (i32.const 32)
           )
          )
          (f32.store
           (i32.add
            (local.get $2)
            (local.get $12)
           )
           (f32.div
            (f32.mul
             (f32.load offset=16
              (i32.add
               (local.get $2)
               (local.get $9)
              )
             )
             (local.get $11)
            )
            (local.get $7)
           )
          )
          (local.set $2
           (i32.add
            (local.get $2)
            (i32.const 4)
           )
          )
          (br $cont11)
         )
        )
        (local.set $3
         (i32.add
          (local.get $3)
          (i32.const 1)
         )
        )
        (br $cont12)
       )
      )
      (local.set $4
       (i32.add
        (local.get $4)
        (i32.const 1)
       )
      )
      (br $cont13)
     )
    )
   )
   (else
    (local.set $2
     (i32.const 0)
    )
    (loop $cont16
     (block $brk16
      (br_if $brk16
       (i32.ge_s
        (local.get $2)
        (local.get $9)
       )
      )
      (local.set $12
       (i32.wrap_i64
        (i64.div_s
         (i64.mul
          (local.tee $13
           (i64.extend_i32_s
            (i32.sub
             (i32.add
              (local.get $5)
              (i32.const 1)
             )
             (local.get $8)
            )
           )
          )
          (i64.extend_i32_s
           (local.get $2)
          )
         )
         (local.tee $14
          (i64.extend_i32_s
           (local.get $9)
          )
         )
        )
       )
      )
      (local.set $15
       (i32.wrap_i64
        (i64.div_s
         (i64.mul
          (i64.extend_i32_s
           (i32.add
            (local.get $2)
            (i32.const 1)
           )
          )
          (local.get $13)
         )
         (local.get $14)
        )
       )
      )
      (local.set $4
       (i32.const 0)
      )
      (loop $cont15
       (block $brk15
        (br_if $brk15
         (i32.ge_s
          (local.get $4)
          (i32.const 2)
         )
        )
        (memory.fill
         (local.tee $10
          (i32.add
           (i32.mul
            (i32.add
             (i32.shl
              (local.get $2)
              (i32.const 2)
             )
             (i32.shl
              (local.get $4)
              (i32.const 1)
             )
            )
            (i32.const 48)
           )
           (i32.const 98432)
          )
         )
         (i32.const 0)
         (i32.const 96)
        )
        (local.set $3
         (i32.const 0)
        )
        (loop $cont14
         (block $brk14
          (br_if $brk14
           (i32.ge_s
            (local.get $3)
            (i32.const 2)
           )
          )
          (f32.store
           (i32.add
            (local.get $10)
            (i32.mul
             (local.get $3)
             (i32.const 48)
            )
           )
           (f32.const -inf)
          )
          (local.set $3
           (i32.add
            (local.get $3)
            (i32.const 1)
           )
          )
          (br $cont14)
         )
        )
        (call $k1_attention_keys
         (i32.add
          (i32.add
           (i32.shl
            (local.get $0)
            (i32.const 9)
           )
           (i32.const 99200)
          )
          (i32.shl
           (local.get $4)
           (i32.const 6)
          )
         )
         (i32.add
          (local.get $8)
          (local.get $12)
         )
         (i32.add
          (local.get $8)
          (local.get $15)
         )
         (local.get $10)
         (local.get $4)
         (i32.add
          (local.tee $3
           (i32.shl
            (local.get $1)
            (i32.const 12)
           )
          )
          (i32.const 65664)
         )
         (i32.add
          (local.get $3)
          (i32.const 73856)
         )
        )
        (local.set $4
         (i32.add
          (local.get $4)
          (i32.const 1)
         )
        )
        (br $cont15)
       )
      )
      (local.set $2
       (i32.add
        (local.get $2)
        (i32.const 1)
       )
      )
      (br $cont16)
     )
    )
    (local.set $5
     (i32.const 0)
    )
    (loop $cont21
     (block $brk21
      (br_if $brk21
       (i32.ge_s
        (local.get $5)
        (i32.const 4)
       )
      )
      (local.set $7
       (f32.load
        (i32.add
         (i32.add
          (i32.shl
           (local.get $1)
           (i32.const 4)
          )
          (i32.const 65536)
         )
         (i32.shl
          (local.get $5)
          (i32.const 2)
         )
        )
       )
      )
      (local.set $2
       (i32.const 0)
      )
      (loop $cont17
       (block $brk17
        (br_if $brk17
         (i32.ge_s
          (local.get $2)
          (local.get $9)
         )
        )
        (if
         (f32.gt
          (local.tee $6
           (f32.load
            (i32.add
             (i32.mul
              (i32.add
               (i32.shl
                (local.get $2)
                (i32.const 2)
               )
               (local.get $5)
              )
              (i32.const 48)
             )
             (i32.const 98432)
            )
           )
          )
          (local.get $7)
         )
         (then
          (local.set $7
           (local.get $6)
          )
         )
        )
        (local.set $2
         (i32.add
          (local.get $2)
          (i32.const 1)
         )
        )
        (br $cont17)
       )
      )
      (local.set $6
       (f32.demote_f64
        (call $exp
         (f64.promote_f32
          (f32.sub
           (f32.load
            (i32.add
             (i32.add
              (i32.shl
               (local.get $1)
               (i32.const 4)
              )
              (i32.const 65536)
             )
             (i32.shl
              (local.get $5)
              (i32.const 2)
             )
            )
           )
           (local.get $7)
          )
         )
        )
       )
      )
      (memory.fill
       (local.tee $3
        (i32.add
         (i32.add
          (i32.shl
           (local.get $0)
           (i32.const 8)
          )
          (i32.const 99200)
         )
         (i32.shl
          (local.get $5)
          (i32.const 5)
         )
        )
       )
       (i32.const 0)
       (i32.const 32)
      )
      (local.set $2
       (i32.const 0)
      )
      (loop $cont19
       (block $brk19
        (br_if $brk19
         (i32.ge_s
          (local.get $2)
          (local.get $9)
         )
        )
        (local.set $11
         (f32.demote_f64
          (call $exp
           (f64.promote_f32
            (f32.sub
             (f32.load
              (local.tee $4
               (i32.add
                (i32.mul
                 (i32.add
                  (i32.shl
                   (local.get $2)
                   (i32.const 2)
                  )
                  (local.get $5)
                 )
                 (i32.const 48)
                )
                (i32.const 98432)
               )
              )
             )
             (local.get $7)
            )
           )
          )
         )
        )
        (local.set $6
         (f32.add
          (local.get $6)
          (f32.mul
           (f32.load offset=4
            (local.get $4)
           )
           (local.get $11)
          )
         )
        )
        (local.set $8
         (i32.add
          (local.get $4)
          (i32.const 16)
         )
        )
        (local.set $4
         (i32.const 0)
        )
        (loop $cont18
         (block $brk18
          (br_if $brk18
           (i32.ge_s
            (local.get $4)
            (i32.const 32)
           )
          )
          (v128.store align=4
           (local.tee $10
            (i32.add
             (local.get $3)
             (local.get $4)
            )
           )
           (f32x4.add
            (v128.load align=4
             (local.get $10)
            )
            (f32x4.mul
             (f32x4.splat
              (local.get $11)
             )
             (v128.load align=4
              (i32.add
               (local.get $4)
               (local.get $8)
              )
             )
            )
           )
          )
          (local.set $4
           (i32.add
            (local.get $4)
            (i32.const 16)
           )
          )
          (br $cont18)
         )
        )
        (local.set $2
         (i32.add
          (local.get $2)
          (i32.const 1)
         )
        )
        (br $cont19)
       )
      )
      (local.set $2
       (i32.const 0)
      )
      (loop $cont20
       (block $brk20
        (br_if $brk20
         (i32.ge_s
          (local.get $2)
          (i32.const 32)
         )
        )
        (f32.store
         (local.tee $4
          (i32.add
           (local.get $2)
           (local.get $3)
          )
         )
         (f32.div
          (f32.load
           (local.get $4)
          )
          (local.get $6)
         )
        )
        (local.set $2
         (i32.add
          (local.get $2)
          (i32.const 4)
         )
        )
        (br $cont20)
       )
      )
      (local.set $5
       (i32.add
        (local.get $5)
        (i32.const 1)
       )
      )
      (br $cont21)
     )
    )
   )
  )
 )
