(module
 (type $0 (func (param i32)))
 (type $1 (func (param f64) (result f64)))
 (type $2 (func (param i32 i32 i32 i32 i32)))
 (type $3 (func (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)))
 (type $4 (func))
 (memory $0 1 65536)
 (export "memory" (memory $0))
 (export "forward" (func $forward))
 (func $select_topk
  (local $0 i32)
  (local $1 f64)
  (local $2 f64)
  (local $3 i32)
  (local $4 i32)
  (local $5 i32)
  (loop $cont1
   (if
    (i32.lt_s
     (local.get $3)
     (i32.const 4)
    )
    (then
     (if
      (i32.eqz
       (i32.and
        (i32.eqz
         (i32.or
          (i32.and
           (f64.eq
            (local.tee $1
             (f64.load
              (i32.const 184)
             )
            )
            (local.get $1)
           )
           (f64.ne
            (local.tee $2
             (f64.load
              (i32.add
               (i32.shl
                (local.get $3)
                (i32.const 3)
               )
               (i32.const 96)
              )
             )
            )
            (local.get $2)
           )
          )
          (f64.lt
           (local.get $1)
           (local.get $2)
          )
         )
        )
        (i32.eq
         (local.get $4)
         (i32.const 2)
        )
       )
      )
      (then
       (if
        (i32.lt_s
         (local.get $4)
         (i32.const 2)
        )
        (then
         (local.set $4
          (i32.add
           (local.tee $0
            (local.get $4)
           )
           (i32.const 1)
          )
         )
        )
        (else
         (local.set $0
          (i32.const 1)
         )
        )
       )
       (loop $shift
        (block $shifted
         (br_if $shifted
          (i32.le_s
           (local.get $0)
           (i32.const 0)
          )
         )
         (br_if $shifted
          (i32.eqz
           (i32.or
            (i32.and
             (f64.eq
              (local.tee $1
               (f64.load
                (i32.add
                 (i32.shl
                  (local.tee $5
                   (i32.sub
                    (local.get $0)
                    (i32.const 1)
                   )
                  )
                  (i32.const 3)
                 )
                 (i32.const 176)
                )
               )
              )
              (local.get $1)
             )
             (f64.ne
              (local.get $2)
              (local.get $2)
             )
            )
            (f64.lt
             (local.get $1)
             (local.get $2)
            )
           )
          )
         )
         (f64.store
          (i32.add
           (i32.shl
            (local.get $0)
            (i32.const 3)
           )
           (i32.const 176)
          )
          (local.get $1)
         )
         (i32.store
          (i32.add
           (i32.shl
            (local.get $0)
            (i32.const 2)
           )
           (i32.const 192)
          )
          (i32.load
           (i32.add
            (i32.shl
             (local.get $5)
             (i32.const 2)
            )
            (i32.const 192)
           )
          )
         )
         (local.set $0
          (local.get $5)
         )
         (br $shift)
        )
       )
       (f64.store
        (i32.add
         (i32.shl
          (local.get $0)
          (i32.const 3)
         )
         (i32.const 176)
        )
        (local.get $2)
       )
       (i32.store
        (i32.add
         (i32.shl
          (local.get $0)
          (i32.const 2)
         )
         (i32.const 192)
        )
        (local.get $3)
       )
      )
     )
     (local.set $3
      (i32.add
       (local.get $3)
       (i32.const 1)
      )
     )
     (br $cont1)
    )
   )
  )
 )
 (func $exp (param $0 f64) (result f64)
  (local $1 f64)
  (local $2 i32)
  (local $3 i32)
  (if
   (f64.ne
    (local.get $0)
    (local.get $0)
   )
   (then
    (return
     (local.get $0)
    )
   )
  )
  (if
   (f64.gt
    (local.get $0)
    (f64.const 709.782712893384)
   )
   (then
    (return
     (f64.const inf)
    )
   )
  )
  (if
   (f64.lt
    (local.get $0)
    (f64.const -745.1332191019412)
   )
   (then
    (return
     (f64.const 0)
    )
   )
  )
  (f64.mul
   (f64.mul
    (f64.add
     (f64.mul
      (local.tee $0
       (f64.sub
        (f64.sub
         (local.get $0)
         (f64.mul
          (local.tee $1
           (f64.nearest
            (f64.mul
             (local.get $0)
             (f64.const 1.4426950408889634)
            )
           )
          )
          (f64.const 0.6931471803691238)
         )
        )
        (f64.mul
         (local.get $1)
         (f64.const 1.9082149292705877e-10)
        )
       )
      )
      (f64.add
       (f64.mul
        (local.get $0)
        (f64.add
         (f64.mul
          (local.get $0)
          (f64.add
           (f64.mul
            (local.get $0)
            (f64.add
             (f64.mul
              (local.get $0)
              (f64.add
               (f64.mul
                (local.get $0)
                (f64.add
                 (f64.mul
                  (local.get $0)
                  (f64.add
                   (f64.mul
                    (local.get $0)
                    (f64.add
                     (f64.mul
                      (local.get $0)
                      (f64.add
                       (f64.mul
                        (local.get $0)
                        (f64.add
                         (f64.mul
                          (local.get $0)
                          (f64.add
                           (f64.mul
                            (local.get $0)
                            (f64.add
                             (f64.mul
                              (local.get $0)
                              (f64.const 1.6059043836821613e-10)
                             )
                             (f64.const 2.08767569878681e-09)
                            )
                           )
                           (f64.const 2.505210838544172e-08)
                          )
                         )
                         (f64.const 2.755731922398589e-07)
                        )
                       )
                       (f64.const 2.7557319223985893e-06)
                      )
                     )
                     (f64.const 2.48015873015873e-05)
                    )
                   )
                   (f64.const 1.984126984126984e-04)
                  )
                 )
                 (f64.const 0.001388888888888889)
                )
               )
               (f64.const 0.008333333333333333)
              )
             )
             (f64.const 0.041666666666666664)
            )
           )
           (f64.const 0.16666666666666666)
          )
         )
         (f64.const 0.5)
        )
       )
       (f64.const 1)
      )
     )
     (f64.const 1)
    )
    (f64.reinterpret_i64
     (i64.shl
      (i64.extend_i32_s
       (i32.add
        (local.tee $3
         (i32.shr_s
          (local.tee $2
           (i32.trunc_f64_s
            (local.get $1)
           )
          )
          (i32.const 1)
         )
        )
        (i32.const 1023)
       )
      )
      (i64.const 52)
     )
    )
   )
   (f64.reinterpret_i64
    (i64.shl
     (i64.extend_i32_s
      (i32.add
       (i32.sub
        (local.get $2)
        (local.get $3)
       )
       (i32.const 1023)
      )
     )
     (i64.const 52)
    )
   )
  )
 )
 (func $k0_router (param $0 i32)
  (local $1 i32)
  (local $2 i32)
  (local $3 f64)
  (local $4 f64)
  (local $5 i32)
  (local $6 i32)
  (local $7 f64)
  (block $brk11
   (loop $cont11
    (br_if $brk11
     (i32.le_s
      (local.get $0)
      (local.get $5)
     )
    )
    (local.set $6
     (i32.add
      (i32.shl
       (local.get $5)
       (i32.const 5)
      )
      (i32.const 67840)
     )
    )
    (local.set $1
     (i32.const 0)
    )
    (loop $cont3
     (block $brk3
      (br_if $brk3
       (i32.ge_s
        (local.get $1)
        (i32.const 4)
       )
      )
      (local.set $4
       (f64.const 0)
      )
      (local.set $2
       (i32.const 0)
      )
      (loop $cont2
       (block $brk2
        (br_if $brk2
         (i32.ge_s
          (local.get $2)
          (i32.const 8)
         )
        )
        (local.set $4
         (f64.add
          (local.get $4)
          (f64.mul
           (f64.promote_f32
            (f32.load
             (i32.add
              (local.get $6)
              (i32.shl
               (local.get $2)
               (i32.const 2)
              )
             )
            )
           )
           (f64.promote_f32
            (f32.mul
             (f32.convert_i32_s
              (i32.load8_s
               (i32.add
                (i32.add
                 (i32.shl
                  (local.get $1)
                  (i32.const 3)
                 )
                 (i32.const 65536)
                )
                (local.get $2)
               )
              )
             )
             (f32.load
              (i32.add
               (i32.shl
                (i32.add
                 (local.get $1)
                 (i32.shr_u
                  (local.get $2)
                  (i32.const 3)
                 )
                )
                (i32.const 2)
               )
               (i32.const 65600)
              )
             )
            )
           )
          )
         )
        )
        (local.set $2
         (i32.add
          (local.get $2)
          (i32.const 1)
         )
        )
        (br $cont2)
       )
      )
      (f64.store
       (i32.sub
        (i32.shl
         (local.get $1)
         (i32.const 3)
        )
        (i32.const -64)
       )
       (local.get $4)
      )
      (local.set $1
       (i32.add
        (local.get $1)
        (i32.const 1)
       )
      )
      (br $cont3)
     )
    )
    (local.set $4
     (f64.const -inf)
    )
    (local.set $1
     (i32.const 0)
    )
    (loop $cont4
     (block $brk4
      (br_if $brk4
       (i32.ge_s
        (local.get $1)
        (i32.const 4)
       )
      )
      (if
       (i32.or
        (f64.ne
         (local.tee $3
          (f64.load
           (i32.sub
            (i32.shl
             (local.get $1)
             (i32.const 3)
            )
            (i32.const -64)
           )
          )
         )
         (local.get $3)
        )
        (f64.gt
         (local.get $3)
         (local.get $4)
        )
       )
       (then
        (local.set $4
         (local.get $3)
        )
       )
      )
      (local.set $1
       (i32.add
        (local.get $1)
        (i32.const 1)
       )
      )
      (br $cont4)
     )
    )
    (local.set $3
     (f64.const 0)
    )
    (local.set $1
     (i32.const 0)
    )
    (loop $cont5
     (block $brk5
      (br_if $brk5
       (i32.ge_s
        (local.get $1)
        (i32.const 4)
       )
      )
      (f64.store
       (i32.add
        (local.tee $2
         (i32.shl
          (local.get $1)
          (i32.const 3)
         )
        )
        (i32.const 96)
       )
       (local.tee $7
        (call $exp
         (f64.sub
          (f64.load
           (i32.sub
            (local.get $2)
            (i32.const -64)
           )
          )
          (local.get $4)
         )
        )
       )
      )
      (local.set $3
       (f64.add
        (local.get $3)
        (local.get $7)
       )
      )
      (local.set $1
       (i32.add
        (local.get $1)
        (i32.const 1)
       )
      )
      (br $cont5)
     )
    )
    (local.set $1
     (i32.const 0)
    )
    (loop $cont6
     (block $brk6
      (br_if $brk6
       (i32.ge_s
        (local.get $1)
        (i32.const 4)
       )
      )
      (f64.store
       (local.tee $2
        (i32.add
         (i32.shl
          (local.get $1)
          (i32.const 3)
         )
         (i32.const 96)
        )
       )
       (f64.div
        (f64.load
         (local.get $2)
        )
        (local.get $3)
       )
      )
      (local.set $1
       (i32.add
        (local.get $1)
        (i32.const 1)
       )
      )
      (br $cont6)
     )
    )
    (call $select_topk)
    (local.set $1
     (i32.const 0)
    )
    (loop $cont7
     (block $brk7
      (br_if $brk7
       (i32.ge_s
        (local.get $1)
        (i32.const 2)
       )
      )
      (f64.store
       (i32.add
        (local.tee $2
         (i32.shl
          (local.get $1)
          (i32.const 3)
         )
        )
        (i32.const 200)
       )
       (f64.load
        (i32.add
         (local.get $2)
         (i32.const 176)
        )
       )
      )
      (local.set $1
       (i32.add
        (local.get $1)
        (i32.const 1)
       )
      )
      (br $cont7)
     )
    )
    (local.set $3
     (f64.const 0)
    )
    (local.set $1
     (i32.const 0)
    )
    (loop $cont8
     (block $brk8
      (br_if $brk8
       (i32.ge_s
        (local.get $1)
        (i32.const 2)
       )
      )
      (local.set $3
       (f64.add
        (local.get $3)
        (f64.load
         (i32.add
          (i32.shl
           (local.get $1)
           (i32.const 3)
          )
          (i32.const 200)
         )
        )
       )
      )
      (local.set $1
       (i32.add
        (local.get $1)
        (i32.const 1)
       )
      )
      (br $cont8)
     )
    )
    (local.set $1
     (i32.const 0)
    )
    (loop $cont9
     (block $brk9
      (br_if $brk9
       (i32.ge_s
        (local.get $1)
        (i32.const 2)
       )
      )
      (f64.store
       (local.tee $2
        (i32.add
         (i32.shl
          (local.get $1)
          (i32.const 3)
         )
         (i32.const 200)
        )
       )
       (f64.div
        (f64.load
         (local.get $2)
        )
        (local.get $3)
       )
      )
      (local.set $1
       (i32.add
        (local.get $1)
        (i32.const 1)
       )
      )
      (br $cont9)
     )
    )
    (local.set $1
     (i32.const 0)
    )
    (loop $cont10
     (block $brk10
      (br_if $brk10
       (i32.ge_s
        (local.get $1)
        (i32.const 2)
       )
      )
      (i32.store
       (i32.add
        (local.tee $2
         (i32.shl
          (i32.add
           (i32.shl
            (local.get $5)
            (i32.const 1)
           )
           (local.get $1)
          )
          (i32.const 2)
         )
        )
        (i32.add
         (i32.mul
          (local.get $0)
          (i32.const 320)
         )
         (i32.const 69248)
        )
       )
       (i32.load
        (i32.add
         (i32.shl
          (local.get $1)
          (i32.const 2)
         )
         (i32.const 192)
        )
       )
      )
      (f32.store
       (i32.add
        (local.get $2)
        (i32.add
         (i32.mul
          (local.get $0)
          (i32.const 384)
         )
         (i32.const 69248)
        )
       )
       (f32.demote_f64
        (f64.mul
         (f64.load
          (i32.add
           (i32.shl
            (local.get $1)
            (i32.const 3)
           )
           (i32.const 200)
          )
         )
         (f64.const 1)
        )
       )
      )
      (local.set $1
       (i32.add
        (local.get $1)
        (i32.const 1)
       )
      )
      (br $cont10)
     )
    )
    (local.set $5
     (i32.add
      (local.get $5)
      (i32.const 1)
     )
    )
    (br $cont11)
   )
  )
 )
 (func $k1_moe_align (param $0 i32)
  (local $1 i32)
  (local $2 i32)
  (local $3 i32)
  (local $4 i32)
  (local $5 i32)
  (local $6 i32)
  (local.set $6
   (i32.shl
    (local.get $0)
    (i32.const 1)
   )
  )
  (v128.store align=1
   (i32.const 64)
   (v128.const i32x4 0x00000000 0x00000000 0x00000000 0x00000000)
  )
  (loop $cont12
   (block $brk12
    (br_if $brk12
     (i32.ge_s
      (local.get $1)
      (local.get $6)
     )
    )
    (if
     (i32.ne
      (local.tee $2
       (i32.load
        (i32.add
         (i32.add
          (i32.mul
           (local.get $0)
           (i32.const 320)
          )
          (i32.const 69248)
         )
         (i32.shl
          (local.get $1)
          (i32.const 2)
         )
        )
       )
      )
      (i32.const -1)
     )
     (then
      (if
       (i32.ge_u
        (local.get $2)
        (i32.const 4)
       )
       (then
        (unreachable)
       )
      )
      (i32.store
       (local.tee $2
        (i32.sub
         (i32.shl
          (local.get $2)
          (i32.const 2)
         )
         (i32.const -64)
        )
       )
       (i32.add
        (i32.load
         (local.get $2)
        )
        (i32.const 1)
       )
      )
     )
    )
    (local.set $1
     (i32.add
      (local.get $1)
      (i32.const 1)
     )
    )
    (br $cont12)
   )
  )
  (memory.fill
   (i32.add
    (i32.shl
     (local.get $0)
     (i32.const 8)
    )
    (i32.const 69120)
   )
   (i32.const 255)
   (i32.shl
    (i32.add
     (i32.shl
      (local.get $0)
      (i32.const 1)
     )
     (i32.const 20)
    )
    (i32.const 2)
   )
  )
  (memory.fill
   (i32.add
    (i32.mul
     (local.get $0)
     (i32.const 448)
    )
    (i32.const 69248)
   )
   (i32.const 255)
   (i32.shl
    (i32.add
     (local.get $0)
     (i32.const 4)
    )
    (i32.const 2)
   )
  )
  (local.set $1
   (i32.const 0)
  )
  (loop $cont14
   (block $brk14
    (br_if $brk14
     (i32.ge_s
      (local.get $3)
      (i32.const 4)
     )
    )
    (i32.store
     (i32.add
      (local.tee $2
       (i32.shl
        (local.get $3)
        (i32.const 2)
       )
      )
      (i32.const 80)
     )
     (local.get $5)
    )
    (local.set $4
     (i32.div_u
      (i32.add
       (i32.load
        (i32.sub
         (local.get $2)
         (i32.const -64)
        )
       )
       (i32.const 5)
      )
      (i32.const 6)
     )
    )
    (local.set $2
     (local.get $1)
    )
    (loop $cont13
     (block $brk13
      (br_if $brk13
       (i32.ge_s
        (local.get $2)
        (i32.add
         (local.get $1)
         (local.get $4)
        )
       )
      )
      (i32.store
       (i32.add
        (i32.add
         (i32.mul
          (local.get $0)
          (i32.const 448)
         )
         (i32.const 69248)
        )
        (i32.shl
         (local.get $2)
         (i32.const 2)
        )
       )
       (local.get $3)
      )
      (local.set $2
       (i32.add
        (local.get $2)
        (i32.const 1)
       )
      )
      (br $cont13)
     )
    )
    (local.set $1
     (i32.add
      (local.get $1)
      (local.get $4)
     )
    )
    (local.set $5
     (i32.add
      (local.get $5)
      (i32.mul
       (local.get $4)
       (i32.const 6)
      )
     )
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
  (local.set $1
   (i32.const 0)
  )
  (loop $cont15
   (block $brk15
    (br_if $brk15
     (i32.ge_s
      (local.get $1)
      (local.get $6)
     )
    )
    (if
     (i32.ne
      (local.tee $2
       (i32.load
        (i32.add
         (i32.add
          (i32.mul
           (local.get $0)
           (i32.const 320)
          )
          (i32.const 69248)
         )
         (i32.shl
          (local.get $1)
          (i32.const 2)
         )
        )
       )
      )
      (i32.const -1)
     )
     (then
      (i32.store
       (i32.add
        (i32.add
         (i32.shl
          (local.get $0)
          (i32.const 8)
         )
         (i32.const 69120)
        )
        (i32.shl
         (i32.load
          (local.tee $4
           (i32.add
            (i32.shl
             (local.get $2)
             (i32.const 2)
            )
            (i32.const 80)
           )
          )
         )
         (i32.const 2)
        )
       )
       (local.get $1)
      )
      (i32.store
       (local.get $4)
       (i32.add
        (i32.load
         (i32.add
          (i32.shl
           (local.get $2)
           (i32.const 2)
          )
          (i32.const 80)
         )
        )
        (i32.const 1)
       )
      )
     )
    )
    (local.set $1
     (i32.add
      (local.get $1)
      (i32.const 1)
     )
    )
    (br $cont15)
   )
  )
  (i32.store
   (i32.add
    (i32.shl
     (local.get $0)
     (i32.const 9)
    )
    (i32.const 69312)
   )
   (local.get $5)
  )
 )
 (func $qmicro_i8_t1x8v_n32k8g8 (param $0 i32) (param $1 i32) (param $2 i32) (param $3 i32) (param $4 i32)
  (local $5 v128)
  (local $6 v128)
  (local $7 v128)
  (local $8 v128)
  (local $9 v128)
  (local $10 v128)
  (local $11 v128)
  (local $12 v128)
  (local $13 v128)
  (local $14 v128)
  (local $15 i32)
  (local $16 i32)
  (local $17 i32)
  (local $18 i32)
  (local $19 i32)
  (local $20 i32)
  (local $21 v128)
  (local $22 v128)
  (local $23 v128)
  (local $24 v128)
  (local $25 v128)
  (local $26 v128)
  (local $27 v128)
  (local $28 v128)
  (local $29 i32)
  (local $30 i32)
  (local $31 i32)
  (local $32 i32)
  (local $33 i32)
  (local $34 i32)
  (local $35 i32)
  (local $36 i32)
  (local $37 i32)
  (local $38 i32)
  (local $39 i32)
  (local.set $29
   (i32.add
    (local.get $1)
    (i32.shl
     (local.get $4)
     (i32.const 3)
    )
   )
  )
  (local.set $30
   (i32.add
    (local.get $2)
    (i32.shl
     (local.get $4)
     (i32.const 2)
    )
   )
  )
  (local.set $31
   (i32.add
    (local.get $1)
    (i32.shl
     (local.tee $15
      (i32.add
       (local.get $4)
       (i32.const 1)
      )
     )
     (i32.const 3)
    )
   )
  )
  (local.set $15
   (i32.add
    (local.get $2)
    (i32.shl
     (local.get $15)
     (i32.const 2)
    )
   )
  )
  (local.set $32
   (i32.add
    (local.get $1)
    (i32.shl
     (local.tee $16
      (i32.add
       (local.get $4)
       (i32.const 2)
      )
     )
     (i32.const 3)
    )
   )
  )
  (local.set $16
   (i32.add
    (local.get $2)
    (i32.shl
     (local.get $16)
     (i32.const 2)
    )
   )
  )
  (local.set $33
   (i32.add
    (local.get $1)
    (i32.shl
     (local.tee $17
      (i32.add
       (local.get $4)
       (i32.const 3)
      )
     )
     (i32.const 3)
    )
   )
  )
  (local.set $17
   (i32.add
    (local.get $2)
    (i32.shl
     (local.get $17)
     (i32.const 2)
    )
   )
  )
  (local.set $34
   (i32.add
    (local.get $1)
    (i32.shl
     (local.tee $18
      (i32.add
       (local.get $4)
       (i32.const 4)
      )
     )
     (i32.const 3)
    )
   )
  )
  (local.set $18
   (i32.add
    (local.get $2)
    (i32.shl
     (local.get $18)
     (i32.const 2)
    )
   )
  )
  (local.set $35
   (i32.add
    (local.get $1)
    (i32.shl
     (local.tee $19
      (i32.add
       (local.get $4)
       (i32.const 5)
      )
     )
     (i32.const 3)
    )
   )
  )
  (local.set $19
   (i32.add
    (local.get $2)
    (i32.shl
     (local.get $19)
     (i32.const 2)
    )
   )
  )
  (local.set $36
   (i32.add
    (local.get $1)
    (i32.shl
     (local.tee $20
      (i32.add
       (local.get $4)
       (i32.const 6)
      )
     )
     (i32.const 3)
    )
   )
  )
  (local.set $20
   (i32.add
    (local.get $2)
    (i32.shl
     (local.get $20)
     (i32.const 2)
    )
   )
  )
  (local.set $37
   (i32.add
    (local.get $1)
    (i32.shl
     (local.tee $4
      (i32.add
       (local.get $4)
       (i32.const 7)
      )
     )
     (i32.const 3)
    )
   )
  )
  (local.set $4
   (i32.add
    (local.get $2)
    (i32.shl
     (local.get $4)
     (i32.const 2)
    )
   )
  )
  (local.set $2
   (i32.const 0)
  )
  (loop $cont19
   (block $brk19
    (br_if $brk19
     (i32.gt_s
      (local.get $2)
      (i32.const 0)
     )
    )
    (local.set $21
     (f32x4.splat
      (f32.load
       (i32.add
        (local.get $30)
        (local.tee $1
         (i32.shl
          (local.get $2)
          (i32.const 2)
         )
        )
       )
      )
     )
    )
    (local.set $22
     (f32x4.splat
      (f32.load
       (i32.add
        (local.get $1)
        (local.get $15)
       )
      )
     )
    )
    (local.set $23
     (f32x4.splat
      (f32.load
       (i32.add
        (local.get $1)
        (local.get $16)
       )
      )
     )
    )
    (local.set $24
     (f32x4.splat
      (f32.load
       (i32.add
        (local.get $1)
        (local.get $17)
       )
      )
     )
    )
    (local.set $25
     (f32x4.splat
      (f32.load
       (i32.add
        (local.get $1)
        (local.get $18)
       )
      )
     )
    )
    (local.set $26
     (f32x4.splat
      (f32.load
       (i32.add
        (local.get $1)
        (local.get $19)
       )
      )
     )
    )
    (local.set $27
     (f32x4.splat
      (f32.load
       (i32.add
        (local.get $1)
        (local.get $20)
       )
      )
     )
    )
    (local.set $28
     (f32x4.splat
      (f32.load
       (i32.add
        (local.get $1)
        (local.get $4)
       )
      )
     )
    )
    (local.set $1
     (local.tee $38
      (i32.shl
       (local.get $2)
       (i32.const 3)
      )
     )
    )
    (loop $cont18
     (block $brk18
      (br_if $brk18
       (i32.ge_s
        (local.get $1)
        (i32.add
         (local.get $38)
         (i32.const 8)
        )
       )
      )
      (local.set $6
       (f32x4.add
        (f32x4.add
         (local.get $6)
         (f32x4.mul
          (local.tee $5
           (v128.load align=4
            (local.tee $39
             (i32.add
              (local.get $0)
              (i32.shl
               (local.get $1)
               (i32.const 2)
              )
             )
            )
           )
          )
          (f32x4.mul
           (f32x4.convert_i32x4_s
            (i32x4.extend_low_i16x8_s
             (local.tee $6
              (v128.load8x8_s align=1
               (i32.add
                (local.get $1)
                (local.get $29)
               )
              )
             )
            )
           )
           (local.get $21)
          )
         )
        )
        (f32x4.mul
         (local.tee $13
          (v128.load offset=16 align=4
           (local.get $39)
          )
         )
         (f32x4.mul
          (f32x4.convert_i32x4_s
           (i32x4.extend_high_i16x8_s
            (local.get $6)
           )
          )
          (local.get $21)
         )
        )
       )
      )
      (local.set $7
       (f32x4.add
        (f32x4.add
         (local.get $7)
         (f32x4.mul
          (local.get $5)
          (f32x4.mul
           (f32x4.convert_i32x4_s
            (i32x4.extend_low_i16x8_s
             (local.tee $7
              (v128.load8x8_s align=1
               (i32.add
                (local.get $1)
                (local.get $31)
               )
              )
             )
            )
           )
           (local.get $22)
          )
         )
        )
        (f32x4.mul
         (local.get $13)
         (f32x4.mul
          (f32x4.convert_i32x4_s
           (i32x4.extend_high_i16x8_s
            (local.get $7)
           )
          )
          (local.get $22)
         )
        )
       )
      )
      (local.set $8
       (f32x4.add
        (f32x4.add
         (local.get $8)
         (f32x4.mul
          (local.get $5)
          (f32x4.mul
           (f32x4.convert_i32x4_s
            (i32x4.extend_low_i16x8_s
             (local.tee $8
              (v128.load8x8_s align=1
               (i32.add
                (local.get $1)
                (local.get $32)
               )
              )
             )
            )
           )
           (local.get $23)
          )
         )
        )
        (f32x4.mul
         (local.get $13)
         (f32x4.mul
          (f32x4.convert_i32x4_s
           (i32x4.extend_high_i16x8_s
            (local.get $8)
           )
          )
          (local.get $23)
         )
        )
       )
      )
      (local.set $9
       (f32x4.add
        (f32x4.add
         (local.get $9)
         (f32x4.mul
          (local.get $5)
          (f32x4.mul
           (f32x4.convert_i32x4_s
            (i32x4.extend_low_i16x8_s
             (local.tee $9
              (v128.load8x8_s align=1
               (i32.add
                (local.get $1)
                (local.get $33)
               )
              )
             )
            )
           )
           (local.get $24)
          )
         )
        )
        (f32x4.mul
         (local.get $13)
         (f32x4.mul
          (f32x4.convert_i32x4_s
           (i32x4.extend_high_i16x8_s
            (local.get $9)
           )
          )
          (local.get $24)
         )
        )
       )
      )
      (local.set $10
       (f32x4.add
        (f32x4.add
         (local.get $10)
         (f32x4.mul
          (local.get $5)
          (f32x4.mul
           (f32x4.convert_i32x4_s
            (i32x4.extend_low_i16x8_s
             (local.tee $10
              (v128.load8x8_s align=1
               (i32.add
                (local.get $1)
                (local.get $34)
               )
              )
             )
            )
           )
           (local.get $25)
          )
         )
        )
        (f32x4.mul
         (local.get $13)
         (f32x4.mul
          (f32x4.convert_i32x4_s
           (i32x4.extend_high_i16x8_s
            (local.get $10)
           )
          )
          (local.get $25)
         )
        )
       )
      )
      (local.set $11
       (f32x4.add
        (f32x4.add
         (local.get $11)
         (f32x4.mul
          (local.get $5)
          (f32x4.mul
           (f32x4.convert_i32x4_s
            (i32x4.extend_low_i16x8_s
             (local.tee $11
              (v128.load8x8_s align=1
               (i32.add
                (local.get $1)
                (local.get $35)
               )
              )
             )
            )
           )
           (local.get $26)
          )
         )
        )
        (f32x4.mul
         (local.get $13)
         (f32x4.mul
          (f32x4.convert_i32x4_s
           (i32x4.extend_high_i16x8_s
            (local.get $11)
           )
          )
          (local.get $26)
         )
        )
       )
      )
      (local.set $12
       (f32x4.add
        (f32x4.add
         (local.get $12)
         (f32x4.mul
          (local.get $5)
          (f32x4.mul
           (f32x4.convert_i32x4_s
            (i32x4.extend_low_i16x8_s
             (local.tee $12
              (v128.load8x8_s align=1
               (i32.add
                (local.get $1)
                (local.get $36)
               )
              )
             )
            )
           )
           (local.get $27)
          )
         )
        )
        (f32x4.mul
         (local.get $13)
         (f32x4.mul
          (f32x4.convert_i32x4_s
           (i32x4.extend_high_i16x8_s
            (local.get $12)
           )
          )
          (local.get $27)
         )
        )
       )
      )
      (local.set $14
       (f32x4.add
        (f32x4.add
         (local.get $14)
         (f32x4.mul
          (local.get $5)
          (f32x4.mul
           (f32x4.convert_i32x4_s
            (i32x4.extend_low_i16x8_s
             (local.tee $5
              (v128.load8x8_s align=1
               (i32.add
                (local.get $1)
                (local.get $37)
               )
              )
             )
            )
           )
           (local.get $28)
          )
         )
        )
        (f32x4.mul
         (local.get $13)
         (f32x4.mul
          (f32x4.convert_i32x4_s
           (i32x4.extend_high_i16x8_s
            (local.get $5)
           )
          )
          (local.get $28)
         )
        )
       )
      )
      (local.set $1
       (i32.add
        (local.get $1)
        (i32.const 8)
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
  (f32.store
   (local.get $3)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $6)
      )
      (f32x4.extract_lane 1
       (local.get $6)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $6)
      )
      (f32x4.extract_lane 3
       (local.get $6)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store offset=4
   (local.get $3)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $7)
      )
      (f32x4.extract_lane 1
       (local.get $7)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $7)
      )
      (f32x4.extract_lane 3
       (local.get $7)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store offset=8
   (local.get $3)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $8)
      )
      (f32x4.extract_lane 1
       (local.get $8)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $8)
      )
      (f32x4.extract_lane 3
       (local.get $8)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store offset=12
   (local.get $3)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $9)
      )
      (f32x4.extract_lane 1
       (local.get $9)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $9)
      )
      (f32x4.extract_lane 3
       (local.get $9)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store offset=16
   (local.get $3)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $10)
      )
      (f32x4.extract_lane 1
       (local.get $10)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $10)
      )
      (f32x4.extract_lane 3
       (local.get $10)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store offset=20
   (local.get $3)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $11)
      )
      (f32x4.extract_lane 1
       (local.get $11)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $11)
      )
      (f32x4.extract_lane 3
       (local.get $11)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store offset=24
   (local.get $3)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $12)
      )
      (f32x4.extract_lane 1
       (local.get $12)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $12)
      )
      (f32x4.extract_lane 3
       (local.get $12)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store offset=28
   (local.get $3)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $14)
      )
      (f32x4.extract_lane 1
       (local.get $14)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $14)
      )
      (f32x4.extract_lane 3
       (local.get $14)
      )
     )
    )
    (f32.const 0)
   )
  )
 )
 (func $act_silu (param $0 f64) (result f64)
  (f64.div
   (local.get $0)
   (f64.add
    (call $exp
     (f64.neg
      (local.get $0)
     )
    )
    (f64.const 1)
   )
  )
 )
 (func $qmicro_i8_t6x2v_n32k8g8 (param $0 i32) (param $1 i32) (param $2 i32) (param $3 i32) (param $4 i32) (param $5 i32) (param $6 i32) (param $7 i32) (param $8 i32) (param $9 i32)
  (local $10 v128)
  (local $11 i32)
  (local $12 i32)
  (local $13 v128)
  (local $14 v128)
  (local $15 v128)
  (local $16 v128)
  (local $17 v128)
  (local $18 v128)
  (local $19 v128)
  (local $20 v128)
  (local $21 v128)
  (local $22 v128)
  (local $23 v128)
  (local $24 v128)
  (local $25 v128)
  (local $26 v128)
  (local $27 i32)
  (local $28 v128)
  (local $29 v128)
  (local $30 i32)
  (local $31 i32)
  (local $32 i32)
  (local $33 v128)
  (local $34 v128)
  (local $35 v128)
  (local $36 v128)
  (local $37 v128)
  (local $38 v128)
  (local $39 v128)
  (local $40 v128)
  (local $41 v128)
  (local $42 v128)
  (local.set $30
   (i32.add
    (local.get $6)
    (i32.shl
     (local.get $9)
     (i32.const 3)
    )
   )
  )
  (local.set $31
   (i32.add
    (local.get $7)
    (i32.shl
     (local.get $9)
     (i32.const 2)
    )
   )
  )
  (local.set $32
   (i32.add
    (local.get $6)
    (i32.shl
     (local.tee $9
      (i32.add
       (local.get $9)
       (i32.const 1)
      )
     )
     (i32.const 3)
    )
   )
  )
  (local.set $7
   (i32.add
    (local.get $7)
    (i32.shl
     (local.get $9)
     (i32.const 2)
    )
   )
  )
  (local.set $9
   (i32.const 0)
  )
  (loop $cont28
   (block $brk28
    (br_if $brk28
     (i32.gt_s
      (local.get $9)
      (i32.const 0)
     )
    )
    (local.set $28
     (f32x4.splat
      (f32.load
       (i32.add
        (local.get $31)
        (local.tee $6
         (i32.shl
          (local.get $9)
          (i32.const 2)
         )
        )
       )
      )
     )
    )
    (local.set $29
     (f32x4.splat
      (f32.load
       (i32.add
        (local.get $6)
        (local.get $7)
       )
      )
     )
    )
    (local.set $27
     (local.tee $6
      (i32.shl
       (local.get $9)
       (i32.const 3)
      )
     )
    )
    (loop $cont27
     (block $brk27
      (br_if $brk27
       (i32.ge_s
        (local.get $27)
        (i32.add
         (local.get $6)
         (i32.const 8)
        )
       )
      )
      (local.set $15
       (f32x4.add
        (f32x4.add
         (local.get $15)
         (f32x4.mul
          (local.tee $13
           (v128.load align=4
            (local.tee $11
             (i32.add
              (local.get $0)
              (local.tee $12
               (i32.shl
                (local.get $27)
                (i32.const 2)
               )
              )
             )
            )
           )
          )
          (local.tee $14
           (f32x4.mul
            (f32x4.convert_i32x4_s
             (i32x4.extend_low_i16x8_s
              (local.tee $10
               (v128.load8x8_s align=1
                (i32.add
                 (local.get $27)
                 (local.get $30)
                )
               )
              )
             )
            )
            (local.get $28)
           )
          )
         )
        )
        (f32x4.mul
         (local.tee $33
          (v128.load offset=16 align=4
           (local.get $11)
          )
         )
         (local.tee $10
          (f32x4.mul
           (f32x4.convert_i32x4_s
            (i32x4.extend_high_i16x8_s
             (local.get $10)
            )
           )
           (local.get $28)
          )
         )
        )
       )
      )
      (local.set $17
       (f32x4.add
        (f32x4.add
         (local.get $17)
         (f32x4.mul
          (local.tee $34
           (v128.load align=4
            (local.tee $11
             (i32.add
              (local.get $1)
              (local.get $12)
             )
            )
           )
          )
          (local.get $14)
         )
        )
        (f32x4.mul
         (local.tee $35
          (v128.load offset=16 align=4
           (local.get $11)
          )
         )
         (local.get $10)
        )
       )
      )
      (local.set $19
       (f32x4.add
        (f32x4.add
         (local.get $19)
         (f32x4.mul
          (local.tee $36
           (v128.load align=4
            (local.tee $11
             (i32.add
              (local.get $2)
              (local.get $12)
             )
            )
           )
          )
          (local.get $14)
         )
        )
        (f32x4.mul
         (local.tee $37
          (v128.load offset=16 align=4
           (local.get $11)
          )
         )
         (local.get $10)
        )
       )
      )
      (local.set $21
       (f32x4.add
        (f32x4.add
         (local.get $21)
         (f32x4.mul
          (local.tee $38
           (v128.load align=4
            (local.tee $11
             (i32.add
              (local.get $3)
              (local.get $12)
             )
            )
           )
          )
          (local.get $14)
         )
        )
        (f32x4.mul
         (local.tee $39
          (v128.load offset=16 align=4
           (local.get $11)
          )
         )
         (local.get $10)
        )
       )
      )
      (local.set $23
       (f32x4.add
        (f32x4.add
         (local.get $23)
         (f32x4.mul
          (local.tee $40
           (v128.load align=4
            (local.tee $11
             (i32.add
              (local.get $4)
              (local.get $12)
             )
            )
           )
          )
          (local.get $14)
         )
        )
        (f32x4.mul
         (local.tee $41
          (v128.load offset=16 align=4
           (local.get $11)
          )
         )
         (local.get $10)
        )
       )
      )
      (local.set $25
       (f32x4.add
        (f32x4.add
         (local.get $25)
         (f32x4.mul
          (local.tee $42
           (v128.load align=4
            (local.tee $12
             (i32.add
              (local.get $5)
              (local.get $12)
             )
            )
           )
          )
          (local.get $14)
         )
        )
        (f32x4.mul
         (local.tee $14
          (v128.load offset=16 align=4
           (local.get $12)
          )
         )
         (local.get $10)
        )
       )
      )
      (local.set $16
       (f32x4.add
        (f32x4.add
         (local.get $16)
         (f32x4.mul
          (local.get $13)
          (local.tee $13
           (f32x4.mul
            (f32x4.convert_i32x4_s
             (i32x4.extend_low_i16x8_s
              (local.tee $10
               (v128.load8x8_s align=1
                (i32.add
                 (local.get $27)
                 (local.get $32)
                )
               )
              )
             )
            )
            (local.get $29)
           )
          )
         )
        )
        (f32x4.mul
         (local.get $33)
         (local.tee $10
          (f32x4.mul
           (f32x4.convert_i32x4_s
            (i32x4.extend_high_i16x8_s
             (local.get $10)
            )
           )
           (local.get $29)
          )
         )
        )
       )
      )
      (local.set $18
       (f32x4.add
        (f32x4.add
         (local.get $18)
         (f32x4.mul
          (local.get $34)
          (local.get $13)
         )
        )
        (f32x4.mul
         (local.get $35)
         (local.get $10)
        )
       )
      )
      (local.set $20
       (f32x4.add
        (f32x4.add
         (local.get $20)
         (f32x4.mul
          (local.get $36)
          (local.get $13)
         )
        )
        (f32x4.mul
         (local.get $37)
         (local.get $10)
        )
       )
      )
      (local.set $22
       (f32x4.add
        (f32x4.add
         (local.get $22)
         (f32x4.mul
          (local.get $38)
          (local.get $13)
         )
        )
        (f32x4.mul
         (local.get $39)
         (local.get $10)
        )
       )
      )
      (local.set $24
       (f32x4.add
        (f32x4.add
         (local.get $24)
         (f32x4.mul
          (local.get $40)
          (local.get $13)
         )
        )
        (f32x4.mul
         (local.get $41)
         (local.get $10)
        )
       )
      )
      (local.set $26
       (f32x4.add
        (f32x4.add
         (local.get $26)
         (f32x4.mul
          (local.get $42)
          (local.get $13)
         )
        )
        (f32x4.mul
         (local.get $14)
         (local.get $10)
        )
       )
      )
      (local.set $27
       (i32.add
        (local.get $27)
        (i32.const 8)
       )
      )
      (br $cont27)
     )
    )
    (local.set $9
     (i32.add
      (local.get $9)
      (i32.const 1)
     )
    )
    (br $cont28)
   )
  )
  (f32.store
   (local.get $8)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $15)
      )
      (f32x4.extract_lane 1
       (local.get $15)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $15)
      )
      (f32x4.extract_lane 3
       (local.get $15)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store offset=4
   (local.get $8)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $16)
      )
      (f32x4.extract_lane 1
       (local.get $16)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $16)
      )
      (f32x4.extract_lane 3
       (local.get $16)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store
   (local.tee $0
    (i32.add
     (local.get $8)
     (i32.const 128)
    )
   )
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $17)
      )
      (f32x4.extract_lane 1
       (local.get $17)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $17)
      )
      (f32x4.extract_lane 3
       (local.get $17)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store offset=4
   (local.get $0)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $18)
      )
      (f32x4.extract_lane 1
       (local.get $18)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $18)
      )
      (f32x4.extract_lane 3
       (local.get $18)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store
   (local.tee $0
    (i32.add
     (local.get $8)
     (i32.const 256)
    )
   )
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $19)
      )
      (f32x4.extract_lane 1
       (local.get $19)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $19)
      )
      (f32x4.extract_lane 3
       (local.get $19)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store offset=4
   (local.get $0)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $20)
      )
      (f32x4.extract_lane 1
       (local.get $20)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $20)
      )
      (f32x4.extract_lane 3
       (local.get $20)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store
   (local.tee $0
    (i32.add
     (local.get $8)
     (i32.const 384)
    )
   )
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $21)
      )
      (f32x4.extract_lane 1
       (local.get $21)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $21)
      )
      (f32x4.extract_lane 3
       (local.get $21)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store offset=4
   (local.get $0)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $22)
      )
      (f32x4.extract_lane 1
       (local.get $22)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $22)
      )
      (f32x4.extract_lane 3
       (local.get $22)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store
   (local.tee $0
    (i32.add
     (local.get $8)
     (i32.const 512)
    )
   )
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $23)
      )
      (f32x4.extract_lane 1
       (local.get $23)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $23)
      )
      (f32x4.extract_lane 3
       (local.get $23)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store offset=4
   (local.get $0)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $24)
      )
      (f32x4.extract_lane 1
       (local.get $24)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $24)
      )
      (f32x4.extract_lane 3
       (local.get $24)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store
   (local.tee $0
    (i32.add
     (local.get $8)
     (i32.const 640)
    )
   )
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $25)
      )
      (f32x4.extract_lane 1
       (local.get $25)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $25)
      )
      (f32x4.extract_lane 3
       (local.get $25)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store offset=4
   (local.get $0)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $26)
      )
      (f32x4.extract_lane 1
       (local.get $26)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $26)
      )
      (f32x4.extract_lane 3
       (local.get $26)
      )
     )
    )
    (f32.const 0)
   )
  )
 )
 (func $k2_grouped_gemm (param $0 i32)
  (local $1 i32)
  (local $2 i32)
  (local $3 i32)
  (local $4 i32)
  (local $5 i32)
  (local $6 i32)
  (local $7 i32)
  (local $8 i32)
  (local $9 i32)
  (local $10 i32)
  (local $11 f32)
  (local $12 i32)
  (local $13 i32)
  (local $14 i32)
  (local $15 i32)
  (local $16 i32)
  (local $17 i32)
  (if
   (i32.lt_u
    (i32.shr_u
     (local.tee $10
      (i32.shl
       (local.get $0)
       (i32.const 1)
      )
     )
     (i32.const 1)
    )
    (i32.const 5)
   )
   (then
    (loop $cont24
     (block $brk24
      (br_if $brk24
       (i32.ge_s
        (local.get $8)
        (local.get $10)
       )
      )
      (if
       (i32.ne
        (local.tee $1
         (i32.load
          (i32.add
           (i32.add
            (i32.mul
             (local.get $0)
             (i32.const 320)
            )
            (i32.const 69248)
           )
           (i32.shl
            (local.get $8)
            (i32.const 2)
           )
          )
         )
        )
        (i32.const -1)
       )
       (then
        (if
         (i32.ge_u
          (local.get $1)
          (i32.const 4)
         )
         (then
          (unreachable)
         )
        )
        (i32.store
         (i32.const 64)
         (i32.add
          (i32.shl
           (i32.shr_u
            (local.get $8)
            (i32.const 1)
           )
           (i32.const 5)
          )
          (i32.const 67840)
         )
        )
        (local.set $3
         (i32.add
          (i32.shl
           (local.get $1)
           (i32.const 8)
          )
          (i32.const 65664)
         )
        )
        (local.set $6
         (i32.add
          (i32.shl
           (local.get $1)
           (i32.const 7)
          )
          (i32.const 66688)
         )
        )
        (local.set $2
         (i32.const 0)
        )
        (loop $cont22
         (block $brk22
          (br_if $brk22
           (i32.ge_s
            (local.get $2)
            (i32.const 32)
           )
          )
          (if
           (i32.gt_s
            (local.tee $4
             (i32.add
              (local.get $2)
              (i32.const 32)
             )
            )
            (i32.const 32)
           )
           (then
            (local.set $4
             (i32.const 32)
            )
           )
          )
          (local.set $5
           (i32.const 0)
          )
          (loop $cont21
           (block $brk21
            (br_if $brk21
             (i32.gt_s
              (local.get $5)
              (i32.const 0)
             )
            )
            (local.set $7
             (i32.load
              (i32.sub
               (i32.shl
                (local.get $5)
                (i32.const 2)
               )
               (i32.const -64)
              )
             )
            )
            (local.set $1
             (local.get $2)
            )
            (loop $cont20
             (block $brk20
              (br_if $brk20
               (i32.ge_s
                (local.get $1)
                (i32.sub
                 (local.get $4)
                 (i32.const 7)
                )
               )
              )
              (call $qmicro_i8_t1x8v_n32k8g8
               (local.get $7)
               (local.get $3)
               (local.get $6)
               (i32.add
                (i32.add
                 (i32.shl
                  (local.get $5)
                  (i32.const 7)
                 )
                 (i32.const 544)
                )
                (i32.shl
                 (local.get $1)
                 (i32.const 2)
                )
               )
               (local.get $1)
              )
              (local.set $1
               (i32.add
                (local.get $1)
                (i32.const 8)
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
          (local.set $2
           (i32.add
            (local.get $2)
            (i32.const 32)
           )
          )
          (br $cont22)
         )
        )
        (local.set $1
         (i32.const 0)
        )
        (loop $cont23
         (block $brk23
          (br_if $brk23
           (i32.ge_s
            (local.get $1)
            (i32.const 16)
           )
          )
          (local.set $11
           (f32.load
            (i32.add
             (i32.shl
              (local.get $1)
              (i32.const 2)
             )
             (i32.const 608)
            )
           )
          )
          (f32.store
           (local.tee $4
            (i32.add
             (i32.shl
              (local.get $1)
              (i32.const 2)
             )
             (i32.const 544)
            )
           )
           (f32.mul
            (f32.demote_f64
             (call $act_silu
              (f64.promote_f32
               (f32.load
                (local.get $4)
               )
              )
             )
            )
            (local.get $11)
           )
          )
          (local.set $1
           (i32.add
            (local.get $1)
            (i32.const 1)
           )
          )
          (br $cont23)
         )
        )
        (memory.copy
         (i32.add
          (i32.add
           (i32.shl
            (local.get $0)
            (i32.const 6)
           )
           (i32.const 67840)
          )
          (i32.shl
           (local.get $8)
           (i32.const 6)
          )
         )
         (i32.const 544)
         (i32.const 64)
        )
       )
      )
      (local.set $8
       (i32.add
        (local.get $8)
        (i32.const 1)
       )
      )
      (br $cont24)
     )
    )
    (return)
   )
  )
  (local.set $12
   (i32.div_u
    (i32.load
     (i32.add
      (i32.shl
       (local.get $0)
       (i32.const 9)
      )
      (i32.const 69312)
     )
    )
    (i32.const 6)
   )
  )
  (loop $passes
   (if
    (i32.lt_s
     (local.get $7)
     (local.get $12)
    )
    (then
     (local.set $6
      (i32.load
       (i32.add
        (i32.add
         (i32.mul
          (local.get $0)
          (i32.const 448)
         )
         (i32.const 69248)
        )
        (i32.shl
         (local.get $7)
         (i32.const 2)
        )
       )
      )
     )
     (local.set $10
      (local.get $7)
     )
     (local.set $9
      (i32.const 0)
     )
     (loop $gather
      (local.set $3
       (i32.const 0)
      )
      (loop $cont25
       (block $brk25
        (br_if $brk25
         (i32.ge_s
          (local.get $3)
          (i32.const 6)
         )
        )
        (i32.store
         (i32.add
          (local.tee $1
           (i32.shl
            (i32.add
             (local.get $3)
             (local.get $9)
            )
            (i32.const 2)
           )
          )
          (i32.const 304)
         )
         (local.tee $2
          (i32.load
           (i32.add
            (i32.add
             (i32.shl
              (local.get $0)
              (i32.const 8)
             )
             (i32.const 69120)
            )
            (i32.shl
             (i32.add
              (i32.mul
               (local.get $7)
               (i32.const 6)
              )
              (local.get $3)
             )
             (i32.const 2)
            )
           )
          )
         )
        )
        (i32.store
         (i32.sub
          (local.get $1)
          (i32.const -64)
         )
         (select
          (i32.const 67840)
          (i32.add
           (i32.shl
            (i32.shr_u
             (local.get $2)
             (i32.const 1)
            )
            (i32.const 5)
           )
           (i32.const 67840)
          )
          (i32.eq
           (local.get $2)
           (i32.const -1)
          )
         )
        )
        (local.set $3
         (i32.add
          (local.get $3)
          (i32.const 1)
         )
        )
        (br $cont25)
       )
      )
      (br_if $gather
       (if (result i32)
        (i32.and
         (i32.lt_s
          (local.tee $9
           (i32.add
            (local.get $9)
            (i32.const 6)
           )
          )
          (i32.const 60)
         )
         (i32.gt_s
          (local.get $12)
          (local.tee $7
           (i32.add
            (local.get $7)
            (i32.const 1)
           )
          )
         )
        )
        (then
         (i32.eq
          (i32.load
           (i32.add
            (i32.add
             (i32.mul
              (local.get $0)
              (i32.const 448)
             )
             (i32.const 69248)
            )
            (i32.shl
             (local.get $7)
             (i32.const 2)
            )
           )
          )
          (local.get $6)
         )
        )
        (else
         (i32.const 0)
        )
       )
      )
     )
     (if
      (i32.ne
       (local.get $6)
       (i32.const -1)
      )
      (then
       (if
        (i32.ge_u
         (local.get $6)
         (i32.const 4)
        )
        (then
         (unreachable)
        )
       )
       (local.set $13
        (i32.add
         (i32.shl
          (local.get $6)
          (i32.const 8)
         )
         (i32.const 65664)
        )
       )
       (local.set $14
        (i32.add
         (i32.shl
          (local.get $6)
          (i32.const 7)
         )
         (i32.const 66688)
        )
       )
       (local.set $2
        (i32.const 0)
       )
       (loop $cont31
        (block $brk31
         (br_if $brk31
          (i32.ge_s
           (local.get $2)
           (i32.const 32)
          )
         )
         (if
          (i32.gt_s
           (local.tee $4
            (i32.add
             (local.get $2)
             (i32.const 32)
            )
           )
           (i32.const 32)
          )
          (then
           (local.set $4
            (i32.const 32)
           )
          )
         )
         (local.set $5
          (i32.const 0)
         )
         (loop $cont30
          (block $brk30
           (br_if $brk30
            (i32.ge_s
             (local.get $5)
             (i32.sub
              (local.get $9)
              (i32.const 5)
             )
            )
           )
           (local.set $15
            (i32.load
             (i32.sub
              (local.tee $1
               (i32.shl
                (local.get $5)
                (i32.const 2)
               )
              )
              (i32.const -64)
             )
            )
           )
           (local.set $16
            (i32.load
             (i32.add
              (local.get $1)
              (i32.const 68)
             )
            )
           )
           (local.set $17
            (i32.load
             (i32.add
              (local.get $1)
              (i32.const 72)
             )
            )
           )
           (local.set $8
            (i32.load
             (i32.add
              (local.get $1)
              (i32.const 76)
             )
            )
           )
           (local.set $3
            (i32.load
             (i32.add
              (local.get $1)
              (i32.const 80)
             )
            )
           )
           (local.set $6
            (i32.load
             (i32.add
              (local.get $1)
              (i32.const 84)
             )
            )
           )
           (local.set $1
            (local.get $2)
           )
           (loop $cont29
            (block $brk29
             (br_if $brk29
              (i32.ge_s
               (local.get $1)
               (i32.sub
                (local.get $4)
                (i32.const 1)
               )
              )
             )
             (call $qmicro_i8_t6x2v_n32k8g8
              (local.get $15)
              (local.get $16)
              (local.get $17)
              (local.get $8)
              (local.get $3)
              (local.get $6)
              (local.get $13)
              (local.get $14)
              (i32.add
               (i32.add
                (i32.shl
                 (local.get $5)
                 (i32.const 7)
                )
                (i32.const 544)
               )
               (i32.shl
                (local.get $1)
                (i32.const 2)
               )
              )
              (local.get $1)
             )
             (local.set $1
              (i32.add
               (local.get $1)
               (i32.const 2)
              )
             )
             (br $cont29)
            )
           )
           (local.set $5
            (i32.add
             (local.get $5)
             (i32.const 6)
            )
           )
           (br $cont30)
          )
         )
         (local.set $2
          (i32.add
           (local.get $2)
           (i32.const 32)
          )
         )
         (br $cont31)
        )
       )
       (local.set $3
        (i32.const 0)
       )
       (loop $cont33
        (block $brk33
         (br_if $brk33
          (i32.ge_s
           (local.get $3)
           (local.get $9)
          )
         )
         (if
          (i32.ne
           (i32.load
            (i32.add
             (i32.shl
              (local.get $3)
              (i32.const 2)
             )
             (i32.const 304)
            )
           )
           (i32.const -1)
          )
          (then
           (local.set $1
            (i32.add
             (i32.shl
              (local.get $3)
              (i32.const 7)
             )
             (i32.const 544)
            )
           )
           (local.set $2
            (i32.const 0)
           )
           (loop $cont32
            (block $brk32
             (br_if $brk32
              (i32.ge_s
               (local.get $2)
               (i32.const 16)
              )
             )
             (local.set $11
              (f32.load
               (i32.add
                (local.get $1)
                (i32.shl
                 (i32.add
                  (local.get $2)
                  (i32.const 16)
                 )
                 (i32.const 2)
                )
               )
              )
             )
             (f32.store
              (local.tee $4
               (i32.add
                (local.get $1)
                (i32.shl
                 (local.get $2)
                 (i32.const 2)
                )
               )
              )
              (f32.mul
               (f32.demote_f64
                (call $act_silu
                 (f64.promote_f32
                  (f32.load
                   (local.get $4)
                  )
                 )
                )
               )
               (local.get $11)
              )
             )
             (local.set $2
              (i32.add
               (local.get $2)
               (i32.const 1)
              )
             )
             (br $cont32)
            )
           )
           (memory.copy
            (i32.add
             (i32.add
              (i32.shl
               (local.get $0)
               (i32.const 6)
              )
              (i32.const 67840)
             )
             (i32.shl
              (i32.add
               (i32.mul
                (local.get $10)
                (i32.const 6)
               )
               (local.get $3)
              )
              (i32.const 6)
             )
            )
            (local.get $1)
            (i32.const 64)
           )
          )
         )
         (local.set $3
          (i32.add
           (local.get $3)
           (i32.const 1)
          )
         )
         (br $cont33)
        )
       )
      )
     )
     (br $passes)
    )
   )
  )
 )
 (func $qmicro_i8_t1x8v_n8k16g16 (param $0 i32) (param $1 i32) (param $2 i32) (param $3 i32) (param $4 i32)
  (local $5 v128)
  (local $6 v128)
  (local $7 v128)
  (local $8 v128)
  (local $9 v128)
  (local $10 v128)
  (local $11 v128)
  (local $12 v128)
  (local $13 v128)
  (local $14 v128)
  (local $15 i32)
  (local $16 i32)
  (local $17 i32)
  (local $18 i32)
  (local $19 i32)
  (local $20 i32)
  (local $21 v128)
  (local $22 v128)
  (local $23 v128)
  (local $24 v128)
  (local $25 v128)
  (local $26 v128)
  (local $27 v128)
  (local $28 v128)
  (local $29 i32)
  (local $30 i32)
  (local $31 i32)
  (local $32 i32)
  (local $33 i32)
  (local $34 i32)
  (local $35 i32)
  (local $36 i32)
  (local $37 i32)
  (local $38 i32)
  (local $39 i32)
  (local.set $29
   (i32.add
    (local.get $1)
    (i32.shl
     (local.get $4)
     (i32.const 4)
    )
   )
  )
  (local.set $30
   (i32.add
    (local.get $2)
    (i32.shl
     (local.get $4)
     (i32.const 2)
    )
   )
  )
  (local.set $31
   (i32.add
    (local.get $1)
    (i32.shl
     (local.tee $15
      (i32.add
       (local.get $4)
       (i32.const 1)
      )
     )
     (i32.const 4)
    )
   )
  )
  (local.set $15
   (i32.add
    (local.get $2)
    (i32.shl
     (local.get $15)
     (i32.const 2)
    )
   )
  )
  (local.set $32
   (i32.add
    (local.get $1)
    (i32.shl
     (local.tee $16
      (i32.add
       (local.get $4)
       (i32.const 2)
      )
     )
     (i32.const 4)
    )
   )
  )
  (local.set $16
   (i32.add
    (local.get $2)
    (i32.shl
     (local.get $16)
     (i32.const 2)
    )
   )
  )
  (local.set $33
   (i32.add
    (local.get $1)
    (i32.shl
     (local.tee $17
      (i32.add
       (local.get $4)
       (i32.const 3)
      )
     )
     (i32.const 4)
    )
   )
  )
  (local.set $17
   (i32.add
    (local.get $2)
    (i32.shl
     (local.get $17)
     (i32.const 2)
    )
   )
  )
  (local.set $34
   (i32.add
    (local.get $1)
    (i32.shl
     (local.tee $18
      (i32.add
       (local.get $4)
       (i32.const 4)
      )
     )
     (i32.const 4)
    )
   )
  )
  (local.set $18
   (i32.add
    (local.get $2)
    (i32.shl
     (local.get $18)
     (i32.const 2)
    )
   )
  )
  (local.set $35
   (i32.add
    (local.get $1)
    (i32.shl
     (local.tee $19
      (i32.add
       (local.get $4)
       (i32.const 5)
      )
     )
     (i32.const 4)
    )
   )
  )
  (local.set $19
   (i32.add
    (local.get $2)
    (i32.shl
     (local.get $19)
     (i32.const 2)
    )
   )
  )
  (local.set $36
   (i32.add
    (local.get $1)
    (i32.shl
     (local.tee $20
      (i32.add
       (local.get $4)
       (i32.const 6)
      )
     )
     (i32.const 4)
    )
   )
  )
  (local.set $20
   (i32.add
    (local.get $2)
    (i32.shl
     (local.get $20)
     (i32.const 2)
    )
   )
  )
  (local.set $37
   (i32.add
    (local.get $1)
    (i32.shl
     (local.tee $4
      (i32.add
       (local.get $4)
       (i32.const 7)
      )
     )
     (i32.const 4)
    )
   )
  )
  (local.set $4
   (i32.add
    (local.get $2)
    (i32.shl
     (local.get $4)
     (i32.const 2)
    )
   )
  )
  (local.set $2
   (i32.const 0)
  )
  (loop $cont37
   (block $brk37
    (br_if $brk37
     (i32.gt_s
      (local.get $2)
      (i32.const 0)
     )
    )
    (local.set $21
     (f32x4.splat
      (f32.load
       (i32.add
        (local.get $30)
        (local.tee $1
         (i32.shl
          (local.get $2)
          (i32.const 2)
         )
        )
       )
      )
     )
    )
    (local.set $22
     (f32x4.splat
      (f32.load
       (i32.add
        (local.get $1)
        (local.get $15)
       )
      )
     )
    )
    (local.set $23
     (f32x4.splat
      (f32.load
       (i32.add
        (local.get $1)
        (local.get $16)
       )
      )
     )
    )
    (local.set $24
     (f32x4.splat
      (f32.load
       (i32.add
        (local.get $1)
        (local.get $17)
       )
      )
     )
    )
    (local.set $25
     (f32x4.splat
      (f32.load
       (i32.add
        (local.get $1)
        (local.get $18)
       )
      )
     )
    )
    (local.set $26
     (f32x4.splat
      (f32.load
       (i32.add
        (local.get $1)
        (local.get $19)
       )
      )
     )
    )
    (local.set $27
     (f32x4.splat
      (f32.load
       (i32.add
        (local.get $1)
        (local.get $20)
       )
      )
     )
    )
    (local.set $28
     (f32x4.splat
      (f32.load
       (i32.add
        (local.get $1)
        (local.get $4)
       )
      )
     )
    )
    (local.set $1
     (local.tee $38
      (i32.shl
       (local.get $2)
       (i32.const 4)
      )
     )
    )
    (loop $cont36
     (block $brk36
      (br_if $brk36
       (i32.ge_s
        (local.get $1)
        (i32.add
         (local.get $38)
         (i32.const 16)
        )
       )
      )
      (local.set $6
       (f32x4.add
        (f32x4.add
         (local.get $6)
         (f32x4.mul
          (local.tee $5
           (v128.load align=4
            (local.tee $39
             (i32.add
              (local.get $0)
              (i32.shl
               (local.get $1)
               (i32.const 2)
              )
             )
            )
           )
          )
          (f32x4.mul
           (f32x4.convert_i32x4_s
            (i32x4.extend_low_i16x8_s
             (local.tee $6
              (v128.load8x8_s align=1
               (i32.add
                (local.get $1)
                (local.get $29)
               )
              )
             )
            )
           )
           (local.get $21)
          )
         )
        )
        (f32x4.mul
         (local.tee $13
          (v128.load offset=16 align=4
           (local.get $39)
          )
         )
         (f32x4.mul
          (f32x4.convert_i32x4_s
           (i32x4.extend_high_i16x8_s
            (local.get $6)
           )
          )
          (local.get $21)
         )
        )
       )
      )
      (local.set $7
       (f32x4.add
        (f32x4.add
         (local.get $7)
         (f32x4.mul
          (local.get $5)
          (f32x4.mul
           (f32x4.convert_i32x4_s
            (i32x4.extend_low_i16x8_s
             (local.tee $7
              (v128.load8x8_s align=1
               (i32.add
                (local.get $1)
                (local.get $31)
               )
              )
             )
            )
           )
           (local.get $22)
          )
         )
        )
        (f32x4.mul
         (local.get $13)
         (f32x4.mul
          (f32x4.convert_i32x4_s
           (i32x4.extend_high_i16x8_s
            (local.get $7)
           )
          )
          (local.get $22)
         )
        )
       )
      )
      (local.set $8
       (f32x4.add
        (f32x4.add
         (local.get $8)
         (f32x4.mul
          (local.get $5)
          (f32x4.mul
           (f32x4.convert_i32x4_s
            (i32x4.extend_low_i16x8_s
             (local.tee $8
              (v128.load8x8_s align=1
               (i32.add
                (local.get $1)
                (local.get $32)
               )
              )
             )
            )
           )
           (local.get $23)
          )
         )
        )
        (f32x4.mul
         (local.get $13)
         (f32x4.mul
          (f32x4.convert_i32x4_s
           (i32x4.extend_high_i16x8_s
            (local.get $8)
           )
          )
          (local.get $23)
         )
        )
       )
      )
      (local.set $9
       (f32x4.add
        (f32x4.add
         (local.get $9)
         (f32x4.mul
          (local.get $5)
          (f32x4.mul
           (f32x4.convert_i32x4_s
            (i32x4.extend_low_i16x8_s
             (local.tee $9
              (v128.load8x8_s align=1
               (i32.add
                (local.get $1)
                (local.get $33)
               )
              )
             )
            )
           )
           (local.get $24)
          )
         )
        )
        (f32x4.mul
         (local.get $13)
         (f32x4.mul
          (f32x4.convert_i32x4_s
           (i32x4.extend_high_i16x8_s
            (local.get $9)
           )
          )
          (local.get $24)
         )
        )
       )
      )
      (local.set $10
       (f32x4.add
        (f32x4.add
         (local.get $10)
         (f32x4.mul
          (local.get $5)
          (f32x4.mul
           (f32x4.convert_i32x4_s
            (i32x4.extend_low_i16x8_s
             (local.tee $10
              (v128.load8x8_s align=1
               (i32.add
                (local.get $1)
                (local.get $34)
               )
              )
             )
            )
           )
           (local.get $25)
          )
         )
        )
        (f32x4.mul
         (local.get $13)
         (f32x4.mul
          (f32x4.convert_i32x4_s
           (i32x4.extend_high_i16x8_s
            (local.get $10)
           )
          )
          (local.get $25)
         )
        )
       )
      )
      (local.set $11
       (f32x4.add
        (f32x4.add
         (local.get $11)
         (f32x4.mul
          (local.get $5)
          (f32x4.mul
           (f32x4.convert_i32x4_s
            (i32x4.extend_low_i16x8_s
             (local.tee $11
              (v128.load8x8_s align=1
               (i32.add
                (local.get $1)
                (local.get $35)
               )
              )
             )
            )
           )
           (local.get $26)
          )
         )
        )
        (f32x4.mul
         (local.get $13)
         (f32x4.mul
          (f32x4.convert_i32x4_s
           (i32x4.extend_high_i16x8_s
            (local.get $11)
           )
          )
          (local.get $26)
         )
        )
       )
      )
      (local.set $12
       (f32x4.add
        (f32x4.add
         (local.get $12)
         (f32x4.mul
          (local.get $5)
          (f32x4.mul
           (f32x4.convert_i32x4_s
            (i32x4.extend_low_i16x8_s
             (local.tee $12
              (v128.load8x8_s align=1
               (i32.add
                (local.get $1)
                (local.get $36)
               )
              )
             )
            )
           )
           (local.get $27)
          )
         )
        )
        (f32x4.mul
         (local.get $13)
         (f32x4.mul
          (f32x4.convert_i32x4_s
           (i32x4.extend_high_i16x8_s
            (local.get $12)
           )
          )
          (local.get $27)
         )
        )
       )
      )
      (local.set $14
       (f32x4.add
        (f32x4.add
         (local.get $14)
         (f32x4.mul
          (local.get $5)
          (f32x4.mul
           (f32x4.convert_i32x4_s
            (i32x4.extend_low_i16x8_s
             (local.tee $5
              (v128.load8x8_s align=1
               (i32.add
                (local.get $1)
                (local.get $37)
               )
              )
             )
            )
           )
           (local.get $28)
          )
         )
        )
        (f32x4.mul
         (local.get $13)
         (f32x4.mul
          (f32x4.convert_i32x4_s
           (i32x4.extend_high_i16x8_s
            (local.get $5)
           )
          )
          (local.get $28)
         )
        )
       )
      )
      (local.set $1
       (i32.add
        (local.get $1)
        (i32.const 8)
       )
      )
      (br $cont36)
     )
    )
    (local.set $2
     (i32.add
      (local.get $2)
      (i32.const 1)
     )
    )
    (br $cont37)
   )
  )
  (f32.store
   (local.get $3)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $6)
      )
      (f32x4.extract_lane 1
       (local.get $6)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $6)
      )
      (f32x4.extract_lane 3
       (local.get $6)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store offset=4
   (local.get $3)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $7)
      )
      (f32x4.extract_lane 1
       (local.get $7)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $7)
      )
      (f32x4.extract_lane 3
       (local.get $7)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store offset=8
   (local.get $3)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $8)
      )
      (f32x4.extract_lane 1
       (local.get $8)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $8)
      )
      (f32x4.extract_lane 3
       (local.get $8)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store offset=12
   (local.get $3)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $9)
      )
      (f32x4.extract_lane 1
       (local.get $9)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $9)
      )
      (f32x4.extract_lane 3
       (local.get $9)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store offset=16
   (local.get $3)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $10)
      )
      (f32x4.extract_lane 1
       (local.get $10)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $10)
      )
      (f32x4.extract_lane 3
       (local.get $10)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store offset=20
   (local.get $3)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $11)
      )
      (f32x4.extract_lane 1
       (local.get $11)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $11)
      )
      (f32x4.extract_lane 3
       (local.get $11)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store offset=24
   (local.get $3)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $12)
      )
      (f32x4.extract_lane 1
       (local.get $12)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $12)
      )
      (f32x4.extract_lane 3
       (local.get $12)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store offset=28
   (local.get $3)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $14)
      )
      (f32x4.extract_lane 1
       (local.get $14)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $14)
      )
      (f32x4.extract_lane 3
       (local.get $14)
      )
     )
    )
    (f32.const 0)
   )
  )
 )
 (func $qmicro_i8_t6x2v_n8k16g16 (param $0 i32) (param $1 i32) (param $2 i32) (param $3 i32) (param $4 i32) (param $5 i32) (param $6 i32) (param $7 i32) (param $8 i32) (param $9 i32)
  (local $10 v128)
  (local $11 i32)
  (local $12 i32)
  (local $13 v128)
  (local $14 v128)
  (local $15 v128)
  (local $16 v128)
  (local $17 v128)
  (local $18 v128)
  (local $19 v128)
  (local $20 v128)
  (local $21 v128)
  (local $22 v128)
  (local $23 v128)
  (local $24 v128)
  (local $25 v128)
  (local $26 v128)
  (local $27 i32)
  (local $28 v128)
  (local $29 v128)
  (local $30 i32)
  (local $31 i32)
  (local $32 i32)
  (local $33 v128)
  (local $34 v128)
  (local $35 v128)
  (local $36 v128)
  (local $37 v128)
  (local $38 v128)
  (local $39 v128)
  (local $40 v128)
  (local $41 v128)
  (local $42 v128)
  (local.set $30
   (i32.add
    (local.get $6)
    (i32.shl
     (local.get $9)
     (i32.const 4)
    )
   )
  )
  (local.set $31
   (i32.add
    (local.get $7)
    (i32.shl
     (local.get $9)
     (i32.const 2)
    )
   )
  )
  (local.set $32
   (i32.add
    (local.get $6)
    (i32.shl
     (local.tee $9
      (i32.add
       (local.get $9)
       (i32.const 1)
      )
     )
     (i32.const 4)
    )
   )
  )
  (local.set $7
   (i32.add
    (local.get $7)
    (i32.shl
     (local.get $9)
     (i32.const 2)
    )
   )
  )
  (local.set $9
   (i32.const 0)
  )
  (loop $cont46
   (block $brk46
    (br_if $brk46
     (i32.gt_s
      (local.get $9)
      (i32.const 0)
     )
    )
    (local.set $28
     (f32x4.splat
      (f32.load
       (i32.add
        (local.get $31)
        (local.tee $6
         (i32.shl
          (local.get $9)
          (i32.const 2)
         )
        )
       )
      )
     )
    )
    (local.set $29
     (f32x4.splat
      (f32.load
       (i32.add
        (local.get $6)
        (local.get $7)
       )
      )
     )
    )
    (local.set $27
     (local.tee $6
      (i32.shl
       (local.get $9)
       (i32.const 4)
      )
     )
    )
    (loop $cont45
     (block $brk45
      (br_if $brk45
       (i32.ge_s
        (local.get $27)
        (i32.add
         (local.get $6)
         (i32.const 16)
        )
       )
      )
      (local.set $15
       (f32x4.add
        (f32x4.add
         (local.get $15)
         (f32x4.mul
          (local.tee $13
           (v128.load align=4
            (local.tee $11
             (i32.add
              (local.get $0)
              (local.tee $12
               (i32.shl
                (local.get $27)
                (i32.const 2)
               )
              )
             )
            )
           )
          )
          (local.tee $14
           (f32x4.mul
            (f32x4.convert_i32x4_s
             (i32x4.extend_low_i16x8_s
              (local.tee $10
               (v128.load8x8_s align=1
                (i32.add
                 (local.get $27)
                 (local.get $30)
                )
               )
              )
             )
            )
            (local.get $28)
           )
          )
         )
        )
        (f32x4.mul
         (local.tee $33
          (v128.load offset=16 align=4
           (local.get $11)
          )
         )
         (local.tee $10
          (f32x4.mul
           (f32x4.convert_i32x4_s
            (i32x4.extend_high_i16x8_s
             (local.get $10)
            )
           )
           (local.get $28)
          )
         )
        )
       )
      )
      (local.set $17
       (f32x4.add
        (f32x4.add
         (local.get $17)
         (f32x4.mul
          (local.tee $34
           (v128.load align=4
            (local.tee $11
             (i32.add
              (local.get $1)
              (local.get $12)
             )
            )
           )
          )
          (local.get $14)
         )
        )
        (f32x4.mul
         (local.tee $35
          (v128.load offset=16 align=4
           (local.get $11)
          )
         )
         (local.get $10)
        )
       )
      )
      (local.set $19
       (f32x4.add
        (f32x4.add
         (local.get $19)
         (f32x4.mul
          (local.tee $36
           (v128.load align=4
            (local.tee $11
             (i32.add
              (local.get $2)
              (local.get $12)
             )
            )
           )
          )
          (local.get $14)
         )
        )
        (f32x4.mul
         (local.tee $37
          (v128.load offset=16 align=4
           (local.get $11)
          )
         )
         (local.get $10)
        )
       )
      )
      (local.set $21
       (f32x4.add
        (f32x4.add
         (local.get $21)
         (f32x4.mul
          (local.tee $38
           (v128.load align=4
            (local.tee $11
             (i32.add
              (local.get $3)
              (local.get $12)
             )
            )
           )
          )
          (local.get $14)
         )
        )
        (f32x4.mul
         (local.tee $39
          (v128.load offset=16 align=4
           (local.get $11)
          )
         )
         (local.get $10)
        )
       )
      )
      (local.set $23
       (f32x4.add
        (f32x4.add
         (local.get $23)
         (f32x4.mul
          (local.tee $40
           (v128.load align=4
            (local.tee $11
             (i32.add
              (local.get $4)
              (local.get $12)
             )
            )
           )
          )
          (local.get $14)
         )
        )
        (f32x4.mul
         (local.tee $41
          (v128.load offset=16 align=4
           (local.get $11)
          )
         )
         (local.get $10)
        )
       )
      )
      (local.set $25
       (f32x4.add
        (f32x4.add
         (local.get $25)
         (f32x4.mul
          (local.tee $42
           (v128.load align=4
            (local.tee $12
             (i32.add
              (local.get $5)
              (local.get $12)
             )
            )
           )
          )
          (local.get $14)
         )
        )
        (f32x4.mul
         (local.tee $14
          (v128.load offset=16 align=4
           (local.get $12)
          )
         )
         (local.get $10)
        )
       )
      )
      (local.set $16
       (f32x4.add
        (f32x4.add
         (local.get $16)
         (f32x4.mul
          (local.get $13)
          (local.tee $13
           (f32x4.mul
            (f32x4.convert_i32x4_s
             (i32x4.extend_low_i16x8_s
              (local.tee $10
               (v128.load8x8_s align=1
                (i32.add
                 (local.get $27)
                 (local.get $32)
                )
               )
              )
             )
            )
            (local.get $29)
           )
          )
         )
        )
        (f32x4.mul
         (local.get $33)
         (local.tee $10
          (f32x4.mul
           (f32x4.convert_i32x4_s
            (i32x4.extend_high_i16x8_s
             (local.get $10)
            )
           )
           (local.get $29)
          )
         )
        )
       )
      )
      (local.set $18
       (f32x4.add
        (f32x4.add
         (local.get $18)
         (f32x4.mul
          (local.get $34)
          (local.get $13)
         )
        )
        (f32x4.mul
         (local.get $35)
         (local.get $10)
        )
       )
      )
      (local.set $20
       (f32x4.add
        (f32x4.add
         (local.get $20)
         (f32x4.mul
          (local.get $36)
          (local.get $13)
         )
        )
        (f32x4.mul
         (local.get $37)
         (local.get $10)
        )
       )
      )
      (local.set $22
       (f32x4.add
        (f32x4.add
         (local.get $22)
         (f32x4.mul
          (local.get $38)
          (local.get $13)
         )
        )
        (f32x4.mul
         (local.get $39)
         (local.get $10)
        )
       )
      )
      (local.set $24
       (f32x4.add
        (f32x4.add
         (local.get $24)
         (f32x4.mul
          (local.get $40)
          (local.get $13)
         )
        )
        (f32x4.mul
         (local.get $41)
         (local.get $10)
        )
       )
      )
      (local.set $26
       (f32x4.add
        (f32x4.add
         (local.get $26)
         (f32x4.mul
          (local.get $42)
          (local.get $13)
         )
        )
        (f32x4.mul
         (local.get $14)
         (local.get $10)
        )
       )
      )
      (local.set $27
       (i32.add
        (local.get $27)
        (i32.const 8)
       )
      )
      (br $cont45)
     )
    )
    (local.set $9
     (i32.add
      (local.get $9)
      (i32.const 1)
     )
    )
    (br $cont46)
   )
  )
  (f32.store
   (local.get $8)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $15)
      )
      (f32x4.extract_lane 1
       (local.get $15)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $15)
      )
      (f32x4.extract_lane 3
       (local.get $15)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store offset=4
   (local.get $8)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $16)
      )
      (f32x4.extract_lane 1
       (local.get $16)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $16)
      )
      (f32x4.extract_lane 3
       (local.get $16)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store
   (local.tee $0
    (i32.add
     (local.get $8)
     (i32.const 32)
    )
   )
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $17)
      )
      (f32x4.extract_lane 1
       (local.get $17)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $17)
      )
      (f32x4.extract_lane 3
       (local.get $17)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store offset=4
   (local.get $0)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $18)
      )
      (f32x4.extract_lane 1
       (local.get $18)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $18)
      )
      (f32x4.extract_lane 3
       (local.get $18)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store
   (local.tee $0
    (i32.sub
     (local.get $8)
     (i32.const -64)
    )
   )
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $19)
      )
      (f32x4.extract_lane 1
       (local.get $19)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $19)
      )
      (f32x4.extract_lane 3
       (local.get $19)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store offset=4
   (local.get $0)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $20)
      )
      (f32x4.extract_lane 1
       (local.get $20)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $20)
      )
      (f32x4.extract_lane 3
       (local.get $20)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store
   (local.tee $0
    (i32.add
     (local.get $8)
     (i32.const 96)
    )
   )
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $21)
      )
      (f32x4.extract_lane 1
       (local.get $21)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $21)
      )
      (f32x4.extract_lane 3
       (local.get $21)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store offset=4
   (local.get $0)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $22)
      )
      (f32x4.extract_lane 1
       (local.get $22)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $22)
      )
      (f32x4.extract_lane 3
       (local.get $22)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store
   (local.tee $0
    (i32.add
     (local.get $8)
     (i32.const 128)
    )
   )
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $23)
      )
      (f32x4.extract_lane 1
       (local.get $23)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $23)
      )
      (f32x4.extract_lane 3
       (local.get $23)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store offset=4
   (local.get $0)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $24)
      )
      (f32x4.extract_lane 1
       (local.get $24)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $24)
      )
      (f32x4.extract_lane 3
       (local.get $24)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store
   (local.tee $0
    (i32.add
     (local.get $8)
     (i32.const 160)
    )
   )
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $25)
      )
      (f32x4.extract_lane 1
       (local.get $25)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $25)
      )
      (f32x4.extract_lane 3
       (local.get $25)
      )
     )
    )
    (f32.const 0)
   )
  )
  (f32.store offset=4
   (local.get $0)
   (f32.add
    (f32.add
     (f32.add
      (f32x4.extract_lane 0
       (local.get $26)
      )
      (f32x4.extract_lane 1
       (local.get $26)
      )
     )
     (f32.add
      (f32x4.extract_lane 2
       (local.get $26)
      )
      (f32x4.extract_lane 3
       (local.get $26)
      )
     )
    )
    (f32.const 0)
   )
  )
 )
 (func $k3_grouped_gemm (param $0 i32)
  (local $1 i32)
  (local $2 i32)
  (local $3 i32)
  (local $4 i32)
  (local $5 i32)
  (local $6 i32)
  (local $7 i32)
  (local $8 i32)
  (local $9 i32)
  (local $10 v128)
  (local $11 i32)
  (local $12 i32)
  (local $13 i32)
  (local $14 i32)
  (local $15 i32)
  (local $16 i32)
  (memory.fill
   (i32.add
    (i32.mul
     (local.get $0)
     (i32.const 192)
    )
    (i32.const 69120)
   )
   (i32.const 0)
   (i32.shl
    (i32.shr_u
     (local.tee $1
      (i32.shl
       (local.get $0)
       (i32.const 1)
      )
     )
     (i32.const 1)
    )
    (i32.const 5)
   )
  )
  (if
   (i32.lt_u
    (i32.shr_u
     (local.get $1)
     (i32.const 1)
    )
    (i32.const 5)
   )
   (then
    (local.set $6
     (local.get $1)
    )
    (loop $cont42
     (block $brk42
      (br_if $brk42
       (i32.ge_s
        (local.get $4)
        (local.get $6)
       )
      )
      (if
       (i32.ne
        (local.tee $1
         (i32.load
          (i32.add
           (i32.add
            (i32.mul
             (local.get $0)
             (i32.const 320)
            )
            (i32.const 69248)
           )
           (i32.shl
            (local.get $4)
            (i32.const 2)
           )
          )
         )
        )
        (i32.const -1)
       )
       (then
        (if
         (i32.ge_u
          (local.get $1)
          (i32.const 4)
         )
         (then
          (unreachable)
         )
        )
        (i32.store
         (i32.const 64)
         (i32.add
          (i32.add
           (i32.shl
            (local.get $0)
            (i32.const 6)
           )
           (i32.const 67840)
          )
          (i32.shl
           (local.get $4)
           (i32.const 6)
          )
         )
        )
        (local.set $8
         (i32.add
          (i32.shl
           (local.get $1)
           (i32.const 7)
          )
          (i32.const 67200)
         )
        )
        (local.set $7
         (i32.add
          (i32.shl
           (local.get $1)
           (i32.const 5)
          )
          (i32.const 67712)
         )
        )
        (local.set $1
         (i32.const 0)
        )
        (loop $cont40
         (block $brk40
          (br_if $brk40
           (i32.ge_s
            (local.get $1)
            (i32.const 8)
           )
          )
          (if
           (i32.gt_s
            (local.tee $5
             (i32.add
              (local.get $1)
              (i32.const 8)
             )
            )
            (i32.const 8)
           )
           (then
            (local.set $5
             (i32.const 8)
            )
           )
          )
          (local.set $3
           (i32.const 0)
          )
          (loop $cont39
           (block $brk39
            (br_if $brk39
             (i32.gt_s
              (local.get $3)
              (i32.const 0)
             )
            )
            (local.set $9
             (i32.load
              (i32.sub
               (i32.shl
                (local.get $3)
                (i32.const 2)
               )
               (i32.const -64)
              )
             )
            )
            (local.set $2
             (local.get $1)
            )
            (loop $cont38
             (block $brk38
              (br_if $brk38
               (i32.ge_s
                (local.get $2)
                (i32.sub
                 (local.get $5)
                 (i32.const 7)
                )
               )
              )
              (call $qmicro_i8_t1x8v_n8k16g16
               (local.get $9)
               (local.get $8)
               (local.get $7)
               (i32.add
                (i32.add
                 (i32.shl
                  (local.get $3)
                  (i32.const 5)
                 )
                 (i32.const 544)
                )
                (i32.shl
                 (local.get $2)
                 (i32.const 2)
                )
               )
               (local.get $2)
              )
              (local.set $2
               (i32.add
                (local.get $2)
                (i32.const 8)
               )
              )
              (br $cont38)
             )
            )
            (local.set $3
             (i32.add
              (local.get $3)
              (i32.const 1)
             )
            )
            (br $cont39)
           )
          )
          (local.set $1
           (i32.add
            (local.get $1)
            (i32.const 8)
           )
          )
          (br $cont40)
         )
        )
        (local.set $2
         (i32.add
          (i32.add
           (i32.mul
            (local.get $0)
            (i32.const 192)
           )
           (i32.const 69120)
          )
          (i32.shl
           (i32.shr_u
            (local.get $4)
            (i32.const 1)
           )
           (i32.const 5)
          )
         )
        )
        (local.set $10
         (f32x4.splat
          (f32.load
           (i32.add
            (i32.add
             (i32.mul
              (local.get $0)
              (i32.const 384)
             )
             (i32.const 69248)
            )
            (i32.shl
             (local.get $4)
             (i32.const 2)
            )
           )
          )
         )
        )
        (local.set $1
         (i32.const 0)
        )
        (loop $cont41
         (block $brk41
          (br_if $brk41
           (i32.ge_s
            (local.get $1)
            (i32.const 32)
           )
          )
          (v128.store align=4
           (local.tee $5
            (i32.add
             (local.get $1)
             (local.get $2)
            )
           )
           (f32x4.add
            (v128.load align=4
             (local.get $5)
            )
            (f32x4.mul
             (local.get $10)
             (v128.load align=4
              (i32.add
               (local.get $1)
               (i32.const 544)
              )
             )
            )
           )
          )
          (local.set $1
           (i32.add
            (local.get $1)
            (i32.const 16)
           )
          )
          (br $cont41)
         )
        )
       )
      )
      (local.set $4
       (i32.add
        (local.get $4)
        (i32.const 1)
       )
      )
      (br $cont42)
     )
    )
    (return)
   )
  )
  (local.set $8
   (i32.div_u
    (i32.load
     (i32.add
      (i32.shl
       (local.get $0)
       (i32.const 9)
      )
      (i32.const 69312)
     )
    )
    (i32.const 6)
   )
  )
  (loop $passes
   (if
    (i32.lt_s
     (local.get $6)
     (local.get $8)
    )
    (then
     (local.set $2
      (i32.load
       (i32.add
        (i32.add
         (i32.mul
          (local.get $0)
          (i32.const 448)
         )
         (i32.const 69248)
        )
        (i32.shl
         (local.get $6)
         (i32.const 2)
        )
       )
      )
     )
     (local.set $4
      (i32.const 0)
     )
     (loop $gather
      (local.set $1
       (i32.const 0)
      )
      (loop $cont43
       (block $brk43
        (br_if $brk43
         (i32.ge_s
          (local.get $1)
          (i32.const 6)
         )
        )
        (i32.store
         (i32.add
          (local.tee $3
           (i32.shl
            (i32.add
             (local.get $1)
             (local.get $4)
            )
            (i32.const 2)
           )
          )
          (i32.const 304)
         )
         (local.tee $7
          (i32.load
           (i32.add
            (i32.add
             (i32.shl
              (local.get $0)
              (i32.const 8)
             )
             (i32.const 69120)
            )
            (i32.shl
             (local.tee $5
              (i32.add
               (i32.mul
                (local.get $6)
                (i32.const 6)
               )
               (local.get $1)
              )
             )
             (i32.const 2)
            )
           )
          )
         )
        )
        (i32.store
         (i32.sub
          (local.get $3)
          (i32.const -64)
         )
         (select
          (local.tee $3
           (i32.add
            (i32.shl
             (local.get $0)
             (i32.const 6)
            )
            (i32.const 67840)
           )
          )
          (i32.add
           (i32.shl
            (local.get $5)
            (i32.const 6)
           )
           (local.get $3)
          )
          (i32.eq
           (local.get $7)
           (i32.const -1)
          )
         )
        )
        (local.set $1
         (i32.add
          (local.get $1)
          (i32.const 1)
         )
        )
        (br $cont43)
       )
      )
      (br_if $gather
       (if (result i32)
        (i32.and
         (i32.lt_s
          (local.tee $4
           (i32.add
            (local.get $4)
            (i32.const 6)
           )
          )
          (i32.const 60)
         )
         (i32.gt_s
          (local.get $8)
          (local.tee $6
           (i32.add
            (local.get $6)
            (i32.const 1)
           )
          )
         )
        )
        (then
         (i32.eq
          (i32.load
           (i32.add
            (i32.add
             (i32.mul
              (local.get $0)
              (i32.const 448)
             )
             (i32.const 69248)
            )
            (i32.shl
             (local.get $6)
             (i32.const 2)
            )
           )
          )
          (local.get $2)
         )
        )
        (else
         (i32.const 0)
        )
       )
      )
     )
     (if
      (i32.ne
       (local.get $2)
       (i32.const -1)
      )
      (then
       (if
        (i32.ge_u
         (local.get $2)
         (i32.const 4)
        )
        (then
         (unreachable)
        )
       )
       (local.set $7
        (i32.add
         (i32.shl
          (local.get $2)
          (i32.const 7)
         )
         (i32.const 67200)
        )
       )
       (local.set $9
        (i32.add
         (i32.shl
          (local.get $2)
          (i32.const 5)
         )
         (i32.const 67712)
        )
       )
       (local.set $1
        (i32.const 0)
       )
       (loop $cont49
        (block $brk49
         (br_if $brk49
          (i32.ge_s
           (local.get $1)
           (i32.const 8)
          )
         )
         (if
          (i32.gt_s
           (local.tee $5
            (i32.add
             (local.get $1)
             (i32.const 8)
            )
           )
           (i32.const 8)
          )
          (then
           (local.set $5
            (i32.const 8)
           )
          )
         )
         (local.set $3
          (i32.const 0)
         )
         (loop $cont48
          (block $brk48
           (br_if $brk48
            (i32.ge_s
             (local.get $3)
             (i32.sub
              (local.get $4)
              (i32.const 5)
             )
            )
           )
           (local.set $11
            (i32.load
             (i32.sub
              (local.tee $2
               (i32.shl
                (local.get $3)
                (i32.const 2)
               )
              )
              (i32.const -64)
             )
            )
           )
           (local.set $12
            (i32.load
             (i32.add
              (local.get $2)
              (i32.const 68)
             )
            )
           )
           (local.set $13
            (i32.load
             (i32.add
              (local.get $2)
              (i32.const 72)
             )
            )
           )
           (local.set $14
            (i32.load
             (i32.add
              (local.get $2)
              (i32.const 76)
             )
            )
           )
           (local.set $15
            (i32.load
             (i32.add
              (local.get $2)
              (i32.const 80)
             )
            )
           )
           (local.set $16
            (i32.load
             (i32.add
              (local.get $2)
              (i32.const 84)
             )
            )
           )
           (local.set $2
            (local.get $1)
           )
           (loop $cont47
            (block $brk47
             (br_if $brk47
              (i32.ge_s
               (local.get $2)
               (i32.sub
                (local.get $5)
                (i32.const 1)
               )
              )
             )
             (call $qmicro_i8_t6x2v_n8k16g16
              (local.get $11)
              (local.get $12)
              (local.get $13)
              (local.get $14)
              (local.get $15)
              (local.get $16)
              (local.get $7)
              (local.get $9)
              (i32.add
               (i32.add
                (i32.shl
                 (local.get $3)
                 (i32.const 5)
                )
                (i32.const 544)
               )
               (i32.shl
                (local.get $2)
                (i32.const 2)
               )
              )
              (local.get $2)
             )
             (local.set $2
              (i32.add
               (local.get $2)
               (i32.const 2)
              )
             )
             (br $cont47)
            )
           )
           (local.set $3
            (i32.add
             (local.get $3)
             (i32.const 6)
            )
           )
           (br $cont48)
          )
         )
         (local.set $1
          (i32.add
           (local.get $1)
           (i32.const 8)
          )
         )
         (br $cont49)
        )
       )
       (local.set $1
        (i32.const 0)
       )
       (loop $cont51
        (block $brk51
         (br_if $brk51
          (i32.ge_s
           (local.get $1)
           (local.get $4)
          )
         )
         (if
          (i32.ne
           (local.tee $2
            (i32.load
             (i32.add
              (i32.shl
               (local.get $1)
               (i32.const 2)
              )
              (i32.const 304)
             )
            )
           )
           (i32.const -1)
          )
          (then
           (local.set $5
            (i32.add
             (i32.shl
              (local.get $1)
              (i32.const 5)
             )
             (i32.const 544)
            )
           )
           (local.set $3
            (i32.add
             (i32.add
              (i32.mul
               (local.get $0)
               (i32.const 192)
              )
              (i32.const 69120)
             )
             (i32.shl
              (i32.shr_u
               (local.get $2)
               (i32.const 1)
              )
              (i32.const 5)
             )
            )
           )
           (local.set $10
            (f32x4.splat
             (f32.load
              (i32.add
               (i32.add
                (i32.mul
                 (local.get $0)
                 (i32.const 384)
                )
                (i32.const 69248)
               )
               (i32.shl
                (local.get $2)
                (i32.const 2)
               )
              )
             )
            )
           )
           (local.set $2
            (i32.const 0)
           )
           (loop $cont50
            (block $brk50
             (br_if $brk50
              (i32.ge_s
               (local.get $2)
               (i32.const 32)
              )
             )
             (v128.store align=4
              (local.tee $7
               (i32.add
                (local.get $2)
                (local.get $3)
               )
              )
              (f32x4.add
               (v128.load align=4
                (local.get $7)
               )
               (f32x4.mul
                (local.get $10)
                (v128.load align=4
                 (i32.add
                  (local.get $2)
                  (local.get $5)
                 )
                )
               )
              )
             )
             (local.set $2
              (i32.add
               (local.get $2)
               (i32.const 16)
              )
             )
             (br $cont50)
            )
           )
          )
         )
         (local.set $1
          (i32.add
           (local.get $1)
           (i32.const 1)
          )
         )
         (br $cont51)
        )
       )
      )
     )
     (br $passes)
    )
   )
  )
 )
 (func $forward (param $0 i32)
  (if
   (i32.gt_u
    (local.get $0)
    (i32.const 40)
   )
   (then
    (unreachable)
   )
  )
  (call $k0_router
   (local.get $0)
  )
  (call $k1_moe_align
   (local.get $0)
  )
  (call $k2_grouped_gemm
   (local.get $0)
  )
  (call $k3_grouped_gemm
   (local.get $0)
  )
 )
)
