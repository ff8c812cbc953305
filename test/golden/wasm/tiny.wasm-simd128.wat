(module
 (type $0 (func (param i32)))
 (type $1 (func))
 (type $2 (func (param f64) (result f64)))
 (type $3 (func (param i32 i32 i32 i32 i32)))
 (type $4 (func (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)))
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
  (loop $cont934
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
              (i32.const 15480)
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
               (i32.const 15392)
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
                 (i32.const 15472)
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
           (i32.const 15472)
          )
          (local.get $1)
         )
         (i32.store
          (i32.add
           (i32.shl
            (local.get $0)
            (i32.const 2)
           )
           (i32.const 15488)
          )
          (i32.load
           (i32.add
            (i32.shl
             (local.get $5)
             (i32.const 2)
            )
            (i32.const 15488)
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
         (i32.const 15472)
        )
        (local.get $2)
       )
       (i32.store
        (i32.add
         (i32.shl
          (local.get $0)
          (i32.const 2)
         )
         (i32.const 15488)
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
     (br $cont934)
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
  (local $7 i32)
  (local $8 f64)
  (block $brk944
   (loop $cont944
    (br_if $brk944
     (i32.le_s
      (local.get $0)
      (local.get $5)
     )
    )
    (local.set $6
     (i32.sub
      (i32.shl
       (local.get $5)
       (i32.const 5)
      )
      (i32.const -64)
     )
    )
    (local.set $1
     (i32.const 0)
    )
    (loop $cont936
     (block $brk936
      (br_if $brk936
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
      (loop $cont935
       (block $brk935
        (br_if $brk935
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
              (local.tee $7
               (i32.shl
                (local.get $2)
                (i32.const 2)
               )
              )
             )
            )
           )
           (f64.promote_f32
            (f32.load
             (i32.add
              (local.get $7)
              (i32.add
               (i32.shl
                (local.get $1)
                (i32.const 5)
               )
               (i32.const 65536)
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
        (br $cont935)
       )
      )
      (f64.store
       (i32.add
        (i32.shl
         (local.get $1)
         (i32.const 3)
        )
        (i32.const 15360)
       )
       (local.get $4)
      )
      (local.set $1
       (i32.add
        (local.get $1)
        (i32.const 1)
       )
      )
      (br $cont936)
     )
    )
    (local.set $4
     (f64.const -inf)
    )
    (local.set $1
     (i32.const 0)
    )
    (loop $cont937
     (block $brk937
      (br_if $brk937
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
           (i32.add
            (i32.shl
             (local.get $1)
             (i32.const 3)
            )
            (i32.const 15360)
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
      (br $cont937)
     )
    )
    (local.set $3
     (f64.const 0)
    )
    (local.set $1
     (i32.const 0)
    )
    (loop $cont938
     (block $brk938
      (br_if $brk938
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
        (i32.const 15392)
       )
       (local.tee $8
        (call $exp
         (f64.sub
          (f64.load
           (i32.add
            (local.get $2)
            (i32.const 15360)
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
        (local.get $8)
       )
      )
      (local.set $1
       (i32.add
        (local.get $1)
        (i32.const 1)
       )
      )
      (br $cont938)
     )
    )
    (local.set $1
     (i32.const 0)
    )
    (loop $cont939
     (block $brk939
      (br_if $brk939
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
         (i32.const 15392)
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
      (br $cont939)
     )
    )
    (call $select_topk)
    (local.set $1
     (i32.const 0)
    )
    (loop $cont940
     (block $brk940
      (br_if $brk940
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
        (i32.const 15496)
       )
       (f64.load
        (i32.add
         (local.get $2)
         (i32.const 15472)
        )
       )
      )
      (local.set $1
       (i32.add
        (local.get $1)
        (i32.const 1)
       )
      )
      (br $cont940)
     )
    )
    (local.set $3
     (f64.const 0)
    )
    (local.set $1
     (i32.const 0)
    )
    (loop $cont941
     (block $brk941
      (br_if $brk941
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
          (i32.const 15496)
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
      (br $cont941)
     )
    )
    (local.set $1
     (i32.const 0)
    )
    (loop $cont942
     (block $brk942
      (br_if $brk942
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
         (i32.const 15496)
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
      (br $cont942)
     )
    )
    (local.set $1
     (i32.const 0)
    )
    (loop $cont943
     (block $brk943
      (br_if $brk943
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
        (i32.const 13952)
       )
       (i32.load
        (i32.add
         (i32.shl
          (local.get $1)
          (i32.const 2)
         )
         (i32.const 15488)
        )
       )
      )
      (f32.store
       (i32.add
        (local.get $2)
        (i32.const 14464)
       )
       (f32.demote_f64
        (f64.mul
         (f64.load
          (i32.add
           (i32.shl
            (local.get $1)
            (i32.const 3)
           )
           (i32.const 15496)
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
      (br $cont943)
     )
    )
    (local.set $5
     (i32.add
      (local.get $5)
      (i32.const 1)
     )
    )
    (br $cont944)
   )
  )
 )
 (func $k1_moe_align (param $0 i32)
  (local $1 i32)
  (local $2 i32)
  (local $3 i32)
  (local $4 i32)
  (local $5 i32)
  (local.set $5
   (i32.shl
    (local.get $0)
    (i32.const 1)
   )
  )
  (v128.store align=1
   (i32.const 15360)
   (v128.const i32x4 0x00000000 0x00000000 0x00000000 0x00000000)
  )
  (loop $cont945
   (block $brk945
    (br_if $brk945
     (i32.ge_s
      (local.get $1)
      (local.get $5)
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
         (i32.const 13952)
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
        (i32.add
         (i32.shl
          (local.get $2)
          (i32.const 2)
         )
         (i32.const 15360)
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
    (br $cont945)
   )
  )
  (memory.fill
   (i32.const 13376)
   (i32.const 255)
   (i32.shl
    (i32.add
     (i32.shl
      (local.get $0)
      (i32.const 1)
     )
     (i32.const 16)
    )
    (i32.const 2)
   )
  )
  (memory.fill
   (i32.const 14976)
   (i32.const 255)
   (i32.shl
    (i32.add
     (local.get $0)
     (i32.const 4)
    )
    (i32.const 2)
   )
  )
  (local.set $0
   (i32.const 0)
  )
  (local.set $2
   (i32.const 0)
  )
  (loop $cont947
   (block $brk947
    (br_if $brk947
     (i32.ge_s
      (local.get $2)
      (i32.const 4)
     )
    )
    (i32.store
     (i32.add
      (local.tee $1
       (i32.shl
        (local.get $2)
        (i32.const 2)
       )
      )
      (i32.const 15376)
     )
     (local.get $3)
    )
    (local.set $4
     (i32.div_u
      (i32.add
       (i32.load
        (i32.add
         (local.get $1)
         (i32.const 15360)
        )
       )
       (i32.const 4)
      )
      (i32.const 5)
     )
    )
    (local.set $1
     (local.get $0)
    )
    (loop $cont946
     (block $brk946
      (br_if $brk946
       (i32.ge_s
        (local.get $1)
        (i32.add
         (local.get $0)
         (local.get $4)
        )
       )
      )
      (i32.store
       (i32.add
        (i32.shl
         (local.get $1)
         (i32.const 2)
        )
        (i32.const 14976)
       )
       (local.get $2)
      )
      (local.set $1
       (i32.add
        (local.get $1)
        (i32.const 1)
       )
      )
      (br $cont946)
     )
    )
    (local.set $0
     (i32.add
      (local.get $0)
      (local.get $4)
     )
    )
    (local.set $3
     (i32.add
      (local.get $3)
      (i32.mul
       (local.get $4)
       (i32.const 5)
      )
     )
    )
    (local.set $2
     (i32.add
      (local.get $2)
      (i32.const 1)
     )
    )
    (br $cont947)
   )
  )
  (local.set $1
   (i32.const 0)
  )
  (loop $cont948
   (block $brk948
    (br_if $brk948
     (i32.ge_s
      (local.get $1)
      (local.get $5)
     )
    )
    (if
     (i32.ne
      (local.tee $0
       (i32.load
        (i32.add
         (i32.shl
          (local.get $1)
          (i32.const 2)
         )
         (i32.const 13952)
        )
       )
      )
      (i32.const -1)
     )
     (then
      (i32.store
       (i32.add
        (i32.shl
         (i32.load
          (local.tee $2
           (i32.add
            (i32.shl
             (local.get $0)
             (i32.const 2)
            )
            (i32.const 15376)
           )
          )
         )
         (i32.const 2)
        )
        (i32.const 13376)
       )
       (local.get $1)
      )
      (i32.store
       (local.get $2)
       (i32.add
        (i32.load
         (i32.add
          (i32.shl
           (local.get $0)
           (i32.const 2)
          )
          (i32.const 15376)
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
    (br $cont948)
   )
  )
  (i32.store
   (i32.const 15296)
   (local.get $3)
  )
 )
 (func $micro_t1x2v (param $0 i32) (param $1 i32) (param $2 i32) (param $3 i32) (param $4 i32)
  (local $5 v128)
  (local $6 v128)
  (local $7 f32)
  (local $8 f32)
  (local $9 i32)
  (local $10 i32)
  (local $11 v128)
  (local $12 f32)
  (local.set $10
   (i32.add
    (local.get $4)
    (local.tee $9
     (local.get $1)
    )
   )
  )
  (local.set $4
   (i32.and
    (local.get $3)
    (i32.const -16)
   )
  )
  (local.set $1
   (i32.const 0)
  )
  (loop $cont951
   (if
    (i32.lt_s
     (local.get $1)
     (local.get $4)
    )
    (then
     (local.set $5
      (f32x4.add
       (local.get $5)
       (f32x4.mul
        (local.tee $11
         (v128.load align=4
          (i32.add
           (local.get $0)
           (local.get $1)
          )
         )
        )
        (v128.load align=4
         (i32.add
          (local.get $1)
          (local.get $9)
         )
        )
       )
      )
     )
     (local.set $6
      (f32x4.add
       (local.get $6)
       (f32x4.mul
        (local.get $11)
        (v128.load align=4
         (i32.add
          (local.get $1)
          (local.get $10)
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
     (br $cont951)
    )
   )
  )
  (local.set $7
   (f32.add
    (f32.add
     (f32x4.extract_lane 0
      (local.get $5)
     )
     (f32x4.extract_lane 1
      (local.get $5)
     )
    )
    (f32.add
     (f32x4.extract_lane 2
      (local.get $5)
     )
     (f32x4.extract_lane 3
      (local.get $5)
     )
    )
   )
  )
  (local.set $8
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
  )
  (local.set $1
   (local.get $4)
  )
  (loop $cont952
   (if
    (i32.lt_s
     (local.get $1)
     (local.get $3)
    )
    (then
     (local.set $7
      (f32.add
       (local.get $7)
       (f32.mul
        (local.tee $12
         (f32.load
          (i32.add
           (local.get $0)
           (local.get $1)
          )
         )
        )
        (f32.load
         (i32.add
          (local.get $1)
          (local.get $9)
         )
        )
       )
      )
     )
     (local.set $8
      (f32.add
       (local.get $8)
       (f32.mul
        (local.get $12)
        (f32.load
         (i32.add
          (local.get $1)
          (local.get $10)
         )
        )
       )
      )
     )
     (local.set $1
      (i32.add
       (local.get $1)
       (i32.const 4)
      )
     )
     (br $cont952)
    )
   )
  )
  (f32.store
   (local.get $2)
   (local.get $7)
  )
  (f32.store offset=4
   (local.get $2)
   (local.get $8)
  )
 )
 (func $micro_t5x2v (param $0 i32) (param $1 i32) (param $2 i32) (param $3 i32) (param $4 i32) (param $5 i32) (param $6 i32) (param $7 i32) (param $8 i32) (param $9 i32)
  (local $10 v128)
  (local $11 f32)
  (local $12 v128)
  (local $13 v128)
  (local $14 v128)
  (local $15 v128)
  (local $16 v128)
  (local $17 v128)
  (local $18 v128)
  (local $19 v128)
  (local $20 v128)
  (local $21 v128)
  (local $22 f32)
  (local $23 f32)
  (local $24 f32)
  (local $25 f32)
  (local $26 f32)
  (local $27 f32)
  (local $28 f32)
  (local $29 f32)
  (local $30 f32)
  (local $31 f32)
  (local $32 f32)
  (local $33 f32)
  (local $34 i32)
  (local $35 i32)
  (local $36 v128)
  (local $37 v128)
  (local $38 v128)
  (local $39 v128)
  (local $40 v128)
  (local.set $35
   (i32.add
    (local.get $8)
    (local.tee $34
     (local.get $5)
    )
   )
  )
  (local.set $8
   (i32.and
    (local.get $7)
    (i32.const -16)
   )
  )
  (local.set $5
   (i32.const 0)
  )
  (loop $cont960
   (block $brk960
    (br_if $brk960
     (i32.ge_s
      (local.get $5)
      (local.get $8)
     )
    )
    (local.set $12
     (f32x4.add
      (local.get $12)
      (f32x4.mul
       (local.tee $36
        (v128.load align=4
         (i32.add
          (local.get $0)
          (local.get $5)
         )
        )
       )
       (local.tee $10
        (v128.load align=4
         (i32.add
          (local.get $5)
          (local.get $34)
         )
        )
       )
      )
     )
    )
    (local.set $14
     (f32x4.add
      (local.get $14)
      (f32x4.mul
       (local.tee $37
        (v128.load align=4
         (i32.add
          (local.get $1)
          (local.get $5)
         )
        )
       )
       (local.get $10)
      )
     )
    )
    (local.set $16
     (f32x4.add
      (local.get $16)
      (f32x4.mul
       (local.tee $38
        (v128.load align=4
         (i32.add
          (local.get $2)
          (local.get $5)
         )
        )
       )
       (local.get $10)
      )
     )
    )
    (local.set $18
     (f32x4.add
      (local.get $18)
      (f32x4.mul
       (local.tee $39
        (v128.load align=4
         (i32.add
          (local.get $3)
          (local.get $5)
         )
        )
       )
       (local.get $10)
      )
     )
    )
    (local.set $20
     (f32x4.add
      (local.get $20)
      (f32x4.mul
       (local.tee $40
        (v128.load align=4
         (i32.add
          (local.get $4)
          (local.get $5)
         )
        )
       )
       (local.get $10)
      )
     )
    )
    (local.set $13
     (f32x4.add
      (local.get $13)
      (f32x4.mul
       (local.get $36)
       (local.tee $10
        (v128.load align=4
         (i32.add
          (local.get $5)
          (local.get $35)
         )
        )
       )
      )
     )
    )
    (local.set $15
     (f32x4.add
      (local.get $15)
      (f32x4.mul
       (local.get $37)
       (local.get $10)
      )
     )
    )
    (local.set $17
     (f32x4.add
      (local.get $17)
      (f32x4.mul
       (local.get $38)
       (local.get $10)
      )
     )
    )
    (local.set $19
     (f32x4.add
      (local.get $19)
      (f32x4.mul
       (local.get $39)
       (local.get $10)
      )
     )
    )
    (local.set $21
     (f32x4.add
      (local.get $21)
      (f32x4.mul
       (local.get $40)
       (local.get $10)
      )
     )
    )
    (local.set $5
     (i32.add
      (local.get $5)
      (i32.const 16)
     )
    )
    (br $cont960)
   )
  )
  (local.set $24
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
  )
  (local.set $25
   (f32.add
    (f32.add
     (f32x4.extract_lane 0
      (local.get $13)
     )
     (f32x4.extract_lane 1
      (local.get $13)
     )
    )
    (f32.add
     (f32x4.extract_lane 2
      (local.get $13)
     )
     (f32x4.extract_lane 3
      (local.get $13)
     )
    )
   )
  )
  (local.set $26
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
  )
  (local.set $27
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
  )
  (local.set $28
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
  )
  (local.set $29
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
  )
  (local.set $30
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
  )
  (local.set $31
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
  )
  (local.set $32
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
  )
  (local.set $33
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
  )
  (local.set $5
   (local.get $8)
  )
  (loop $cont961
   (block $brk961
    (br_if $brk961
     (i32.ge_s
      (local.get $5)
      (local.get $7)
     )
    )
    (local.set $24
     (f32.add
      (local.get $24)
      (f32.mul
       (local.tee $22
        (f32.load
         (i32.add
          (local.get $0)
          (local.get $5)
         )
        )
       )
       (local.tee $23
        (f32.load
         (i32.add
          (local.get $5)
          (local.get $34)
         )
        )
       )
      )
     )
    )
    (local.set $25
     (f32.add
      (local.get $25)
      (f32.mul
       (local.get $22)
       (local.tee $22
        (f32.load
         (i32.add
          (local.get $5)
          (local.get $35)
         )
        )
       )
      )
     )
    )
    (local.set $26
     (f32.add
      (local.get $26)
      (f32.mul
       (local.tee $11
        (f32.load
         (i32.add
          (local.get $1)
          (local.get $5)
         )
        )
       )
       (local.get $23)
      )
     )
    )
    (local.set $27
     (f32.add
      (local.get $27)
      (f32.mul
       (local.get $11)
       (local.get $22)
      )
     )
    )
    (local.set $28
     (f32.add
      (local.get $28)
      (f32.mul
       (local.tee $11
        (f32.load
         (i32.add
          (local.get $2)
          (local.get $5)
         )
        )
       )
       (local.get $23)
      )
     )
    )
    (local.set $29
     (f32.add
      (local.get $29)
      (f32.mul
       (local.get $11)
       (local.get $22)
      )
     )
    )
    (local.set $30
     (f32.add
      (local.get $30)
      (f32.mul
       (local.tee $11
        (f32.load
         (i32.add
          (local.get $3)
          (local.get $5)
         )
        )
       )
       (local.get $23)
      )
     )
    )
    (local.set $31
     (f32.add
      (local.get $31)
      (f32.mul
       (local.get $11)
       (local.get $22)
      )
     )
    )
    (local.set $32
     (f32.add
      (local.get $32)
      (f32.mul
       (local.tee $11
        (f32.load
         (i32.add
          (local.get $4)
          (local.get $5)
         )
        )
       )
       (local.get $23)
      )
     )
    )
    (local.set $33
     (f32.add
      (local.get $33)
      (f32.mul
       (local.get $11)
       (local.get $22)
      )
     )
    )
    (local.set $5
     (i32.add
      (local.get $5)
      (i32.const 4)
     )
    )
    (br $cont961)
   )
  )
  (f32.store
   (local.get $6)
   (local.get $24)
  )
  (f32.store offset=4
   (local.get $6)
   (local.get $25)
  )
  (f32.store
   (local.tee $0
    (i32.add
     (local.get $6)
     (local.get $9)
    )
   )
   (local.get $26)
  )
  (f32.store offset=4
   (local.get $0)
   (local.get $27)
  )
  (f32.store
   (local.tee $0
    (i32.add
     (local.get $6)
     (i32.shl
      (local.get $9)
      (i32.const 1)
     )
    )
   )
   (local.get $28)
  )
  (f32.store offset=4
   (local.get $0)
   (local.get $29)
  )
  (f32.store
   (local.tee $0
    (i32.add
     (local.get $6)
     (i32.mul
      (local.get $9)
      (i32.const 3)
     )
    )
   )
   (local.get $30)
  )
  (f32.store offset=4
   (local.get $0)
   (local.get $31)
  )
  (f32.store
   (local.tee $0
    (i32.add
     (local.get $6)
     (i32.shl
      (local.get $9)
      (i32.const 2)
     )
    )
   )
   (local.get $32)
  )
  (f32.store offset=4
   (local.get $0)
   (local.get $33)
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
  (local $8 f64)
  (local $9 f64)
  (local $10 i32)
  (local $11 i32)
  (local $12 i32)
  (local $13 i32)
  (if
   (i32.lt_u
    (i32.shr_u
     (local.tee $5
      (i32.shl
       (local.get $0)
       (i32.const 1)
      )
     )
     (i32.const 1)
    )
    (i32.const 4)
   )
   (then
    (loop $cont957
     (block $brk957
      (br_if $brk957
       (i32.ge_s
        (local.get $3)
        (local.get $5)
       )
      )
      (if
       (i32.ne
        (local.tee $0
         (i32.load
          (i32.add
           (i32.shl
            (local.get $3)
            (i32.const 2)
           )
           (i32.const 13952)
          )
         )
        )
        (i32.const -1)
       )
       (then
        (if
         (i32.ge_u
          (local.get $0)
          (i32.const 4)
         )
         (then
          (unreachable)
         )
        )
        (i32.store
         (i32.const 15360)
         (i32.sub
          (i32.shl
           (i32.shr_u
            (local.get $3)
            (i32.const 1)
           )
           (i32.const 5)
          )
          (i32.const -64)
         )
        )
        (local.set $6
         (i32.add
          (i32.shl
           (local.get $0)
           (i32.const 10)
          )
          (i32.const 65664)
         )
        )
        (local.set $0
         (i32.const 0)
        )
        (loop $cont955
         (block $brk955
          (br_if $brk955
           (i32.ge_s
            (local.get $0)
            (i32.const 32)
           )
          )
          (if
           (i32.gt_s
            (local.tee $4
             (i32.add
              (local.get $0)
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
          (local.set $2
           (i32.const 0)
          )
          (loop $cont954
           (block $brk954
            (br_if $brk954
             (i32.gt_s
              (local.get $2)
              (i32.const 0)
             )
            )
            (local.set $7
             (i32.load
              (i32.add
               (i32.shl
                (local.get $2)
                (i32.const 2)
               )
               (i32.const 15360)
              )
             )
            )
            (local.set $1
             (local.get $0)
            )
            (loop $cont953
             (block $brk953
              (br_if $brk953
               (i32.ge_s
                (local.get $1)
                (i32.sub
                 (local.get $4)
                 (i32.const 1)
                )
               )
              )
              (call $micro_t1x2v
               (local.get $7)
               (i32.add
                (local.get $6)
                (i32.shl
                 (local.get $1)
                 (i32.const 5)
                )
               )
               (i32.add
                (i32.add
                 (i32.shl
                  (local.get $2)
                  (i32.const 7)
                 )
                 (i32.const 15408)
                )
                (i32.shl
                 (local.get $1)
                 (i32.const 2)
                )
               )
               (i32.const 32)
               (i32.const 32)
              )
              (local.set $1
               (i32.add
                (local.get $1)
                (i32.const 2)
               )
              )
              (br $cont953)
             )
            )
            (local.set $2
             (i32.add
              (local.get $2)
              (i32.const 1)
             )
            )
            (br $cont954)
           )
          )
          (local.set $0
           (i32.add
            (local.get $0)
            (i32.const 32)
           )
          )
          (br $cont955)
         )
        )
        (local.set $0
         (i32.const 0)
        )
        (loop $cont956
         (block $brk956
          (br_if $brk956
           (i32.ge_s
            (local.get $0)
            (i32.const 16)
           )
          )
          (local.set $8
           (f64.promote_f32
            (f32.load
             (i32.add
              (i32.shl
               (local.get $0)
               (i32.const 2)
              )
              (i32.const 15472)
             )
            )
           )
          )
          (f32.store
           (local.tee $4
            (i32.add
             (i32.shl
              (local.get $0)
              (i32.const 2)
             )
             (i32.const 15408)
            )
           )
           (f32.demote_f64
            (f64.mul
             (f64.div
              (local.tee $9
               (f64.promote_f32
                (f32.load
                 (local.get $4)
                )
               )
              )
              (f64.add
               (call $exp
                (f64.neg
                 (local.get $9)
                )
               )
               (f64.const 1)
              )
             )
             (local.get $8)
            )
           )
          )
          (local.set $0
           (i32.add
            (local.get $0)
            (i32.const 1)
           )
          )
          (br $cont956)
         )
        )
        (memory.copy
         (i32.add
          (i32.shl
           (local.get $3)
           (i32.const 6)
          )
          (i32.const 2112)
         )
         (i32.const 15408)
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
      (br $cont957)
     )
    )
    (return)
   )
  )
  (local.set $5
   (i32.div_u
    (i32.load
     (i32.const 15296)
    )
    (i32.const 5)
   )
  )
  (loop $cont967
   (block $brk967
    (br_if $brk967
     (i32.ge_s
      (local.get $3)
      (local.get $5)
     )
    )
    (if
     (i32.ne
      (local.tee $1
       (i32.load
        (i32.add
         (i32.shl
          (local.get $3)
          (i32.const 2)
         )
         (i32.const 14976)
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
      (local.set $0
       (i32.const 0)
      )
      (loop $cont959
       (block $brk959
        (br_if $brk959
         (i32.ge_s
          (local.get $0)
          (i32.const 5)
         )
        )
        (i32.store
         (i32.add
          (local.tee $4
           (i32.shl
            (local.get $0)
            (i32.const 2)
           )
          )
          (i32.const 15380)
         )
         (local.tee $2
          (i32.load
           (i32.add
            (i32.shl
             (i32.add
              (i32.mul
               (local.get $3)
               (i32.const 5)
              )
              (local.get $0)
             )
             (i32.const 2)
            )
            (i32.const 13376)
           )
          )
         )
        )
        (i32.store
         (i32.add
          (local.get $4)
          (i32.const 15360)
         )
         (select
          (i32.const 64)
          (i32.sub
           (i32.shl
            (i32.shr_u
             (local.get $2)
             (i32.const 1)
            )
            (i32.const 5)
           )
           (i32.const -64)
          )
          (i32.eq
           (local.get $2)
           (i32.const -1)
          )
         )
        )
        (local.set $0
         (i32.add
          (local.get $0)
          (i32.const 1)
         )
        )
        (br $cont959)
       )
      )
      (local.set $6
       (i32.add
        (i32.shl
         (local.get $1)
         (i32.const 10)
        )
        (i32.const 65664)
       )
      )
      (local.set $0
       (i32.const 0)
      )
      (loop $cont964
       (block $brk964
        (br_if $brk964
         (i32.ge_s
          (local.get $0)
          (i32.const 32)
         )
        )
        (if
         (i32.gt_s
          (local.tee $4
           (i32.add
            (local.get $0)
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
        (local.set $2
         (i32.const 0)
        )
        (loop $cont963
         (block $brk963
          (br_if $brk963
           (i32.gt_s
            (local.get $2)
            (i32.const 0)
           )
          )
          (local.set $7
           (i32.load
            (i32.add
             (local.tee $1
              (i32.shl
               (local.get $2)
               (i32.const 2)
              )
             )
             (i32.const 15360)
            )
           )
          )
          (local.set $10
           (i32.load
            (i32.add
             (local.get $1)
             (i32.const 15364)
            )
           )
          )
          (local.set $11
           (i32.load
            (i32.add
             (local.get $1)
             (i32.const 15368)
            )
           )
          )
          (local.set $12
           (i32.load
            (i32.add
             (local.get $1)
             (i32.const 15372)
            )
           )
          )
          (local.set $13
           (i32.load
            (i32.add
             (local.get $1)
             (i32.const 15376)
            )
           )
          )
          (local.set $1
           (local.get $0)
          )
          (loop $cont962
           (block $brk962
            (br_if $brk962
             (i32.ge_s
              (local.get $1)
              (i32.sub
               (local.get $4)
               (i32.const 1)
              )
             )
            )
            (call $micro_t5x2v
             (local.get $7)
             (local.get $10)
             (local.get $11)
             (local.get $12)
             (local.get $13)
             (i32.add
              (local.get $6)
              (i32.shl
               (local.get $1)
               (i32.const 5)
              )
             )
             (i32.add
              (i32.add
               (i32.shl
                (local.get $2)
                (i32.const 7)
               )
               (i32.const 15408)
              )
              (i32.shl
               (local.get $1)
               (i32.const 2)
              )
             )
             (i32.const 32)
             (i32.const 32)
             (i32.const 128)
            )
            (local.set $1
             (i32.add
              (local.get $1)
              (i32.const 2)
             )
            )
            (br $cont962)
           )
          )
          (local.set $2
           (i32.add
            (local.get $2)
            (i32.const 5)
           )
          )
          (br $cont963)
         )
        )
        (local.set $0
         (i32.add
          (local.get $0)
          (i32.const 32)
         )
        )
        (br $cont964)
       )
      )
      (local.set $0
       (i32.const 0)
      )
      (loop $cont966
       (block $brk966
        (br_if $brk966
         (i32.ge_s
          (local.get $0)
          (i32.const 5)
         )
        )
        (if
         (i32.ne
          (i32.load
           (i32.add
            (i32.shl
             (local.get $0)
             (i32.const 2)
            )
            (i32.const 15380)
           )
          )
          (i32.const -1)
         )
         (then
          (local.set $2
           (i32.add
            (i32.shl
             (local.get $0)
             (i32.const 7)
            )
            (i32.const 15408)
           )
          )
          (local.set $1
           (i32.const 0)
          )
          (loop $cont965
           (block $brk965
            (br_if $brk965
             (i32.ge_s
              (local.get $1)
              (i32.const 16)
             )
            )
            (local.set $8
             (f64.promote_f32
              (f32.load
               (i32.add
                (local.get $2)
                (i32.shl
                 (i32.add
                  (local.get $1)
                  (i32.const 16)
                 )
                 (i32.const 2)
                )
               )
              )
             )
            )
            (f32.store
             (local.tee $4
              (i32.add
               (local.get $2)
               (i32.shl
                (local.get $1)
                (i32.const 2)
               )
              )
             )
             (f32.demote_f64
              (f64.mul
               (f64.div
                (local.tee $9
                 (f64.promote_f32
                  (f32.load
                   (local.get $4)
                  )
                 )
                )
                (f64.add
                 (call $exp
                  (f64.neg
                   (local.get $9)
                  )
                 )
                 (f64.const 1)
                )
               )
               (local.get $8)
              )
             )
            )
            (local.set $1
             (i32.add
              (local.get $1)
              (i32.const 1)
             )
            )
            (br $cont965)
           )
          )
          (memory.copy
           (i32.add
            (i32.shl
             (i32.add
              (i32.mul
               (local.get $3)
               (i32.const 5)
              )
              (local.get $0)
             )
             (i32.const 6)
            )
            (i32.const 2112)
           )
           (local.get $2)
           (i32.const 64)
          )
         )
        )
        (local.set $0
         (i32.add
          (local.get $0)
          (i32.const 1)
         )
        )
        (br $cont966)
       )
      )
     )
    )
    (local.set $3
     (i32.add
      (local.get $3)
      (i32.const 1)
     )
    )
    (br $cont967)
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
  (local $8 v128)
  (local $9 i32)
  (local $10 i32)
  (local $11 i32)
  (local $12 i32)
  (memory.fill
   (i32.const 11328)
   (i32.const 0)
   (i32.shl
    (i32.shr_u
     (local.tee $6
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
     (local.get $6)
     (i32.const 1)
    )
    (i32.const 4)
   )
   (then
    (loop $cont974
     (block $brk974
      (br_if $brk974
       (i32.ge_s
        (local.get $3)
        (local.get $6)
       )
      )
      (if
       (i32.ne
        (local.tee $0
         (i32.load
          (i32.add
           (i32.shl
            (local.get $3)
            (i32.const 2)
           )
           (i32.const 13952)
          )
         )
        )
        (i32.const -1)
       )
       (then
        (if
         (i32.ge_u
          (local.get $0)
          (i32.const 4)
         )
         (then
          (unreachable)
         )
        )
        (i32.store
         (i32.const 15360)
         (i32.add
          (i32.shl
           (local.get $3)
           (i32.const 6)
          )
          (i32.const 2112)
         )
        )
        (local.set $5
         (i32.add
          (i32.shl
           (local.get $0)
           (i32.const 9)
          )
          (i32.const 69760)
         )
        )
        (local.set $0
         (i32.const 0)
        )
        (loop $cont972
         (block $brk972
          (br_if $brk972
           (i32.ge_s
            (local.get $0)
            (i32.const 8)
           )
          )
          (if
           (i32.gt_s
            (local.tee $4
             (i32.add
              (local.get $0)
              (i32.const 8)
             )
            )
            (i32.const 8)
           )
           (then
            (local.set $4
             (i32.const 8)
            )
           )
          )
          (local.set $2
           (i32.const 0)
          )
          (loop $cont971
           (block $brk971
            (br_if $brk971
             (i32.gt_s
              (local.get $2)
              (i32.const 0)
             )
            )
            (local.set $7
             (i32.load
              (i32.add
               (i32.shl
                (local.get $2)
                (i32.const 2)
               )
               (i32.const 15360)
              )
             )
            )
            (local.set $1
             (local.get $0)
            )
            (loop $cont970
             (block $brk970
              (br_if $brk970
               (i32.ge_s
                (local.get $1)
                (i32.sub
                 (local.get $4)
                 (i32.const 1)
                )
               )
              )
              (call $micro_t1x2v
               (local.get $7)
               (i32.add
                (local.get $5)
                (i32.shl
                 (local.get $1)
                 (i32.const 6)
                )
               )
               (i32.add
                (i32.add
                 (i32.shl
                  (local.get $2)
                  (i32.const 5)
                 )
                 (i32.const 15408)
                )
                (i32.shl
                 (local.get $1)
                 (i32.const 2)
                )
               )
               (i32.const 64)
               (i32.const 64)
              )
              (local.set $1
               (i32.add
                (local.get $1)
                (i32.const 2)
               )
              )
              (br $cont970)
             )
            )
            (local.set $2
             (i32.add
              (local.get $2)
              (i32.const 1)
             )
            )
            (br $cont971)
           )
          )
          (local.set $0
           (i32.add
            (local.get $0)
            (i32.const 8)
           )
          )
          (br $cont972)
         )
        )
        (local.set $1
         (i32.add
          (i32.shl
           (i32.shr_u
            (local.get $3)
            (i32.const 1)
           )
           (i32.const 5)
          )
          (i32.const 11328)
         )
        )
        (local.set $8
         (f32x4.splat
          (f32.load
           (i32.add
            (i32.shl
             (local.get $3)
             (i32.const 2)
            )
            (i32.const 14464)
           )
          )
         )
        )
        (local.set $0
         (i32.const 0)
        )
        (loop $cont973
         (block $brk973
          (br_if $brk973
           (i32.ge_s
            (local.get $0)
            (i32.const 32)
           )
          )
          (v128.store align=4
           (local.tee $4
            (i32.add
             (local.get $0)
             (local.get $1)
            )
           )
           (f32x4.add
            (v128.load align=4
             (local.get $4)
            )
            (f32x4.mul
             (local.get $8)
             (v128.load align=4
              (i32.add
               (local.get $0)
               (i32.const 15408)
              )
             )
            )
           )
          )
          (local.set $0
           (i32.add
            (local.get $0)
            (i32.const 16)
           )
          )
          (br $cont973)
         )
        )
       )
      )
      (local.set $3
       (i32.add
        (local.get $3)
        (i32.const 1)
       )
      )
      (br $cont974)
     )
    )
    (return)
   )
  )
  (local.set $6
   (i32.div_u
    (i32.load
     (i32.const 15296)
    )
    (i32.const 5)
   )
  )
  (loop $cont982
   (block $brk982
    (br_if $brk982
     (i32.ge_s
      (local.get $3)
      (local.get $6)
     )
    )
    (if
     (i32.ne
      (local.tee $1
       (i32.load
        (i32.add
         (i32.shl
          (local.get $3)
          (i32.const 2)
         )
         (i32.const 14976)
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
      (local.set $0
       (i32.const 0)
      )
      (loop $cont976
       (block $brk976
        (br_if $brk976
         (i32.ge_s
          (local.get $0)
          (i32.const 5)
         )
        )
        (i32.store
         (i32.add
          (local.tee $5
           (i32.shl
            (local.get $0)
            (i32.const 2)
           )
          )
          (i32.const 15380)
         )
         (local.tee $4
          (i32.load
           (i32.add
            (i32.shl
             (local.tee $2
              (i32.add
               (i32.mul
                (local.get $3)
                (i32.const 5)
               )
               (local.get $0)
              )
             )
             (i32.const 2)
            )
            (i32.const 13376)
           )
          )
         )
        )
        (i32.store
         (i32.add
          (local.get $5)
          (i32.const 15360)
         )
         (select
          (i32.const 2112)
          (i32.add
           (i32.shl
            (local.get $2)
            (i32.const 6)
           )
           (i32.const 2112)
          )
          (i32.eq
           (local.get $4)
           (i32.const -1)
          )
         )
        )
        (local.set $0
         (i32.add
          (local.get $0)
          (i32.const 1)
         )
        )
        (br $cont976)
       )
      )
      (local.set $5
       (i32.add
        (i32.shl
         (local.get $1)
         (i32.const 9)
        )
        (i32.const 69760)
       )
      )
      (local.set $0
       (i32.const 0)
      )
      (loop $cont979
       (block $brk979
        (br_if $brk979
         (i32.ge_s
          (local.get $0)
          (i32.const 8)
         )
        )
        (if
         (i32.gt_s
          (local.tee $4
           (i32.add
            (local.get $0)
            (i32.const 8)
           )
          )
          (i32.const 8)
         )
         (then
          (local.set $4
           (i32.const 8)
          )
         )
        )
        (local.set $2
         (i32.const 0)
        )
        (loop $cont978
         (block $brk978
          (br_if $brk978
           (i32.gt_s
            (local.get $2)
            (i32.const 0)
           )
          )
          (local.set $7
           (i32.load
            (i32.add
             (local.tee $1
              (i32.shl
               (local.get $2)
               (i32.const 2)
              )
             )
             (i32.const 15360)
            )
           )
          )
          (local.set $9
           (i32.load
            (i32.add
             (local.get $1)
             (i32.const 15364)
            )
           )
          )
          (local.set $10
           (i32.load
            (i32.add
             (local.get $1)
             (i32.const 15368)
            )
           )
          )
          (local.set $11
           (i32.load
            (i32.add
             (local.get $1)
             (i32.const 15372)
            )
           )
          )
          (local.set $12
           (i32.load
            (i32.add
             (local.get $1)
             (i32.const 15376)
            )
           )
          )
          (local.set $1
           (local.get $0)
          )
          (loop $cont977
           (block $brk977
            (br_if $brk977
             (i32.ge_s
              (local.get $1)
              (i32.sub
               (local.get $4)
               (i32.const 1)
              )
             )
            )
            (call $micro_t5x2v
             (local.get $7)
             (local.get $9)
             (local.get $10)
             (local.get $11)
             (local.get $12)
             (i32.add
              (local.get $5)
              (i32.shl
               (local.get $1)
               (i32.const 6)
              )
             )
             (i32.add
              (i32.add
               (i32.shl
                (local.get $2)
                (i32.const 5)
               )
               (i32.const 15408)
              )
              (i32.shl
               (local.get $1)
               (i32.const 2)
              )
             )
             (i32.const 64)
             (i32.const 64)
             (i32.const 32)
            )
            (local.set $1
             (i32.add
              (local.get $1)
              (i32.const 2)
             )
            )
            (br $cont977)
           )
          )
          (local.set $2
           (i32.add
            (local.get $2)
            (i32.const 5)
           )
          )
          (br $cont978)
         )
        )
        (local.set $0
         (i32.add
          (local.get $0)
          (i32.const 8)
         )
        )
        (br $cont979)
       )
      )
      (local.set $0
       (i32.const 0)
      )
      (loop $cont981
       (block $brk981
        (br_if $brk981
         (i32.ge_s
          (local.get $0)
          (i32.const 5)
         )
        )
        (if
         (i32.ne
          (local.tee $1
           (i32.load
            (i32.add
             (i32.shl
              (local.get $0)
              (i32.const 2)
             )
             (i32.const 15380)
            )
           )
          )
          (i32.const -1)
         )
         (then
          (local.set $4
           (i32.add
            (i32.shl
             (local.get $0)
             (i32.const 5)
            )
            (i32.const 15408)
           )
          )
          (local.set $2
           (i32.add
            (i32.shl
             (i32.shr_u
              (local.get $1)
              (i32.const 1)
             )
             (i32.const 5)
            )
            (i32.const 11328)
           )
          )
          (local.set $8
           (f32x4.splat
            (f32.load
             (i32.add
              (i32.shl
               (local.get $1)
               (i32.const 2)
              )
              (i32.const 14464)
             )
            )
           )
          )
          (local.set $1
           (i32.const 0)
          )
          (loop $cont980
           (block $brk980
            (br_if $brk980
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
               (local.get $8)
               (v128.load align=4
                (i32.add
                 (local.get $1)
                 (local.get $4)
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
            (br $cont980)
           )
          )
         )
        )
        (local.set $0
         (i32.add
          (local.get $0)
          (i32.const 1)
         )
        )
        (br $cont981)
       )
      )
     )
    )
    (local.set $3
     (i32.add
      (local.get $3)
      (i32.const 1)
     )
    )
    (br $cont982)
   )
  )
 )
 (func $forward (param $0 i32)
  (if
   (i32.gt_u
    (local.get $0)
    (i32.const 64)
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
