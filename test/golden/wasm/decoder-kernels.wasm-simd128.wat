(module
 (type $0 (func (param i32)))
 (type $1 (func (param f64) (result f64)))
 (memory $0 1 65536)
 (export "memory" (memory $0))
 (export "forward" (func $forward))
 (func $k0_embedding (param $0 i32)
  (local $1 i32)
  (local $2 i32)
  (block $brk0
   (loop $cont0
    (br_if $brk0
     (i32.le_s
      (local.get $0)
      (local.get $1)
     )
    )
    (if
     (i32.ge_u
      (local.tee $2
       (i32.load
        (i32.add
         (i32.shl
          (local.get $1)
          (i32.const 2)
         )
         (i32.const 66112)
        )
       )
      )
      (i32.const 16)
     )
     (then
      (unreachable)
     )
     (else
      (memory.copy
       (i32.add
        (i32.add
         (i32.mul
          (local.get $0)
          (i32.const 192)
         )
         (i32.const 66112)
        )
        (i32.shl
         (local.get $1)
         (i32.const 5)
        )
       )
       (i32.add
        (i32.shl
         (local.get $2)
         (i32.const 5)
        )
        (i32.const 65536)
       )
       (i32.const 32)
      )
      (local.set $1
       (i32.add
        (local.get $1)
        (i32.const 1)
       )
      )
      (br $cont0)
     )
    )
   )
  )
 )
 (func $k1_rmsnorm (param $0 i32)
  (local $1 i32)
  (local $2 f64)
  (local $3 i32)
  (local $4 i32)
  (local $5 i32)
  (local $6 i32)
  (local $7 i32)
  (local.set $6
   (i32.and
    (local.get $0)
    (i32.const 536870911)
   )
  )
  (loop $cont3
   (block $brk3
    (br_if $brk3
     (i32.ge_s
      (local.get $3)
      (local.get $6)
     )
    )
    (local.set $4
     (i32.add
      (local.tee $1
       (i32.shl
        (local.get $3)
        (i32.const 5)
       )
      )
      (i32.add
       (i32.mul
        (local.get $0)
        (i32.const 192)
       )
       (i32.const 66112)
      )
     )
    )
    (local.set $7
     (i32.add
      (local.get $1)
      (i32.add
       (i32.shl
        (local.get $0)
        (i32.const 8)
       )
       (i32.const 66112)
      )
     )
    )
    (local.set $2
     (f64.const 0)
    )
    (local.set $1
     (i32.const 0)
    )
    (loop $cont1
     (block $brk1
      (br_if $brk1
       (i32.ge_s
        (local.get $1)
        (i32.const 8)
       )
      )
      (local.set $2
       (f64.add
        (local.get $2)
        (f64.mul
         (local.tee $2
          (f64.promote_f32
           (f32.load
            (i32.add
             (local.get $4)
             (i32.shl
              (local.get $1)
              (i32.const 2)
             )
            )
           )
          )
         )
         (local.get $2)
        )
       )
      )
      (local.set $1
       (i32.add
        (local.get $1)
        (i32.const 1)
       )
      )
      (br $cont1)
     )
    )
    (local.set $2
     (f64.sqrt
      (f64.add
       (f64.mul
        (local.get $2)
        (f64.const 0.125)
       )
       (f64.const 1e-06)
      )
     )
    )
    (local.set $1
     (i32.const 0)
    )
    (loop $cont2
     (block $brk2
      (br_if $brk2
       (i32.ge_s
        (local.get $1)
        (i32.const 8)
       )
      )
      (f32.store
       (i32.add
        (local.get $7)
        (local.tee $5
         (i32.shl
          (local.get $1)
          (i32.const 2)
         )
        )
       )
       (f32.demote_f64
        (f64.mul
         (f64.div
          (f64.promote_f32
           (f32.load
            (i32.add
             (local.get $4)
             (local.get $5)
            )
           )
          )
          (local.get $2)
         )
         (f64.promote_f32
          (f32.load
           (i32.add
            (local.get $5)
            (i32.const 66048)
           )
          )
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
      (br $cont2)
     )
    )
    (local.set $3
     (i32.add
      (local.get $3)
      (i32.const 1)
     )
    )
    (br $cont3)
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
 (func $act_sigmoid (param $0 f64) (result f64)
  (f64.div
   (f64.const 1)
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
 (func $k2_elementwise (param $0 i32)
  (local $1 i32)
  (local $2 i32)
  (block $brk4
   (loop $cont4
    (br_if $brk4
     (i32.le_s
      (local.get $0)
      (local.get $1)
     )
    )
    (f32.store
     (i32.add
      (local.tee $2
       (i32.shl
        (local.get $1)
        (i32.const 2)
       )
      )
      (i32.add
       (i32.mul
        (local.get $0)
        (i32.const 192)
       )
       (i32.const 66112)
      )
     )
     (f32.demote_f64
      (f64.promote_f32
       (f32.demote_f64
        (call $act_sigmoid
         (f64.promote_f32
          (f32.demote_f64
           (f64.promote_f32
            (f32.load
             (i32.add
              (local.get $2)
              (i32.add
               (i32.shl
                (local.get $0)
                (i32.const 7)
               )
               (i32.const 66112)
              )
             )
            )
           )
          )
         )
        )
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
    (br $cont4)
   )
  )
 )
 (func $act_gelu_tanh (param $0 f64) (result f64)
  (local $1 f64)
  (f64.mul
   (f64.mul
    (local.get $0)
    (f64.const 0.5)
   )
   (f64.add
    (f64.copysign
     (f64.sub
      (f64.const 1)
      (f64.div
       (f64.const 2)
       (f64.add
        (call $exp
         (f64.add
          (local.tee $1
           (f64.abs
            (local.tee $0
             (f64.mul
              (f64.add
               (local.get $0)
               (f64.mul
                (f64.mul
                 (local.get $0)
                 (f64.mul
                  (local.get $0)
                  (local.get $0)
                 )
                )
                (f64.const 0.044715)
               )
              )
              (f64.const 0.7978845608028654)
             )
            )
           )
          )
          (local.get $1)
         )
        )
        (f64.const 1)
       )
      )
     )
     (local.get $0)
    )
    (f64.const 1)
   )
  )
 )
 (func $k3_elementwise (param $0 i32)
  (local $1 i32)
  (local $2 i32)
  (block $brk5
   (loop $cont5
    (br_if $brk5
     (i32.ge_s
      (local.get $1)
      (i32.shl
       (local.get $0)
       (i32.const 3)
      )
     )
    )
    (f32.store
     (i32.add
      (local.tee $2
       (i32.shl
        (local.get $1)
        (i32.const 2)
       )
      )
      (i32.add
       (i32.mul
        (local.get $0)
        (i32.const 320)
       )
       (i32.const 66112)
      )
     )
     (f32.demote_f64
      (f64.promote_f32
       (f32.demote_f64
        (call $act_gelu_tanh
         (f64.promote_f32
          (f32.demote_f64
           (f64.mul
            (f64.promote_f32
             (f32.demote_f64
              (f64.promote_f32
               (f32.load
                (i32.add
                 (local.get $2)
                 (i32.add
                  (i32.shl
                   (local.get $0)
                   (i32.const 8)
                  )
                  (i32.const 66112)
                 )
                )
               )
              )
             )
            )
            (f64.promote_f32
             (f32.demote_f64
              (f64.promote_f32
               (f32.load
                (i32.add
                 (i32.add
                  (i32.mul
                   (local.get $0)
                   (i32.const 192)
                  )
                  (i32.const 66112)
                 )
                 (i32.shl
                  (i32.shr_u
                   (local.get $1)
                   (i32.const 3)
                  )
                  (i32.const 2)
                 )
                )
               )
              )
             )
            )
           )
          )
         )
        )
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
    (br $cont5)
   )
  )
 )
 (func $sin (param $0 f64) (result f64)
  (local $1 f64)
  (local $2 f64)
  (local $3 i32)
  (local $4 f64)
  (local $5 f64)
  (if
   (i32.eqz
    (f64.lt
     (f64.abs
      (local.get $0)
     )
     (f64.const inf)
    )
   )
   (then
    (return
     (f64.const nan:0x8000000000000)
    )
   )
  )
  (select
   (select
    (local.tee $5
     (f64.add
      (f64.mul
       (local.tee $0
        (f64.mul
         (local.tee $2
          (f64.sub
           (f64.sub
            (f64.sub
             (local.get $0)
             (f64.mul
              (local.tee $1
               (f64.nearest
                (f64.mul
                 (local.get $0)
                 (f64.const 0.6366197723675814)
                )
               )
              )
              (f64.const 1.5707963267341256)
             )
            )
            (f64.mul
             (local.get $1)
             (f64.const 6.077100506303966e-11)
            )
           )
           (f64.mul
            (local.get $1)
            (f64.const 2.0222662487111665e-21)
           )
          )
         )
         (local.get $2)
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
                        (local.tee $4
                         (f64.mul
                          (local.get $0)
                          (f64.const 0)
                         )
                        )
                        (f64.const -1.5619206968586225e-16)
                       )
                      )
                      (f64.const 4.779477332387385e-14)
                     )
                    )
                    (f64.const -1.1470745597729725e-11)
                   )
                  )
                  (f64.const 2.08767569878681e-09)
                 )
                )
                (f64.const -2.755731922398589e-07)
               )
              )
              (f64.const 2.48015873015873e-05)
             )
            )
            (f64.const -0.001388888888888889)
           )
          )
          (f64.const 0.041666666666666664)
         )
        )
        (f64.const -0.5)
       )
      )
      (f64.const 1)
     )
    )
    (local.tee $0
     (f64.mul
      (local.get $2)
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
                         (local.get $4)
                         (f64.const -8.22063524662433e-18)
                        )
                       )
                       (f64.const 2.8114572543455206e-15)
                      )
                     )
                     (f64.const -7.647163731819816e-13)
                    )
                   )
                   (f64.const 1.6059043836821613e-10)
                  )
                 )
                 (f64.const -2.505210838544172e-08)
                )
               )
               (f64.const 2.7557319223985893e-06)
              )
             )
             (f64.const -1.984126984126984e-04)
            )
           )
           (f64.const 0.008333333333333333)
          )
         )
         (f64.const -0.16666666666666666)
        )
       )
       (f64.const 1)
      )
     )
    )
    (local.tee $3
     (i32.and
      (i32.wrap_i64
       (i64.trunc_sat_f64_s
        (local.get $1)
       )
      )
      (i32.const 3)
     )
    )
   )
   (f64.neg
    (select
     (local.get $0)
     (local.get $5)
     (i32.eq
      (local.get $3)
      (i32.const 2)
     )
    )
   )
   (i32.lt_u
    (local.get $3)
    (i32.const 2)
   )
  )
 )
 (func $cos (param $0 f64) (result f64)
  (local $1 f64)
  (local $2 f64)
  (local $3 i32)
  (local $4 f64)
  (if
   (i32.eqz
    (f64.lt
     (f64.abs
      (local.get $0)
     )
     (f64.const inf)
    )
   )
   (then
    (return
     (f64.const nan:0x8000000000000)
    )
   )
  )
  (local.set $0
   (f64.mul
    (local.tee $1
     (f64.sub
      (f64.sub
       (f64.sub
        (local.get $0)
        (f64.mul
         (local.tee $2
          (f64.nearest
           (f64.mul
            (local.get $0)
            (f64.const 0.6366197723675814)
           )
          )
         )
         (f64.const 1.5707963267341256)
        )
       )
       (f64.mul
        (local.get $2)
        (f64.const 6.077100506303966e-11)
       )
      )
      (f64.mul
       (local.get $2)
       (f64.const 2.0222662487111665e-21)
      )
     )
    )
    (local.get $1)
   )
  )
  (select
   (select
    (f64.neg
     (local.tee $1
      (f64.mul
       (local.get $1)
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
                          (local.tee $4
                           (f64.mul
                            (local.get $0)
                            (f64.const 0)
                           )
                          )
                          (f64.const -8.22063524662433e-18)
                         )
                        )
                        (f64.const 2.8114572543455206e-15)
                       )
                      )
                      (f64.const -7.647163731819816e-13)
                     )
                    )
                    (f64.const 1.6059043836821613e-10)
                   )
                  )
                  (f64.const -2.505210838544172e-08)
                 )
                )
                (f64.const 2.7557319223985893e-06)
               )
              )
              (f64.const -1.984126984126984e-04)
             )
            )
            (f64.const 0.008333333333333333)
           )
          )
          (f64.const -0.16666666666666666)
         )
        )
        (f64.const 1)
       )
      )
     )
    )
    (local.tee $0
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
                        (local.get $4)
                        (f64.const -1.5619206968586225e-16)
                       )
                      )
                      (f64.const 4.779477332387385e-14)
                     )
                    )
                    (f64.const -1.1470745597729725e-11)
                   )
                  )
                  (f64.const 2.08767569878681e-09)
                 )
                )
                (f64.const -2.755731922398589e-07)
               )
              )
              (f64.const 2.48015873015873e-05)
             )
            )
            (f64.const -0.001388888888888889)
           )
          )
          (f64.const 0.041666666666666664)
         )
        )
        (f64.const -0.5)
       )
      )
      (f64.const 1)
     )
    )
    (local.tee $3
     (i32.and
      (i32.wrap_i64
       (i64.trunc_sat_f64_s
        (local.get $2)
       )
      )
      (i32.const 3)
     )
    )
   )
   (select
    (f64.neg
     (local.get $0)
    )
    (local.get $1)
    (i32.eq
     (local.get $3)
     (i32.const 2)
    )
   )
   (i32.lt_u
    (local.get $3)
    (i32.const 2)
   )
  )
 )
 (func $k4_rope (param $0 i32)
  (local $1 i32)
  (local $2 f64)
  (local $3 f64)
  (local $4 i32)
  (local $5 i32)
  (local $6 f64)
  (local $7 i32)
  (local $8 f64)
  (local $9 i32)
  (local $10 f64)
  (block $brk7
   (loop $cont7
    (br_if $brk7
     (i32.ge_s
      (local.get $4)
      (i32.shr_u
       (i32.shl
        (local.get $0)
        (i32.const 4)
       )
       (i32.const 3)
      )
     )
    )
    (local.set $5
     (i32.add
      (local.tee $1
       (i32.shl
        (local.get $4)
        (i32.const 5)
       )
      )
      (i32.add
       (i32.shl
        (local.get $0)
        (i32.const 6)
       )
       (i32.const 66112)
      )
     )
    )
    (local.set $1
     (i32.add
      (local.get $1)
      (i32.add
       (i32.mul
        (local.get $0)
        (i32.const 192)
       )
       (i32.const 66112)
      )
     )
    )
    (local.set $6
     (f64.convert_i32_u
      (i32.add
       (i32.shr_u
        (local.get $4)
        (i32.const 1)
       )
       (i32.const 5)
      )
     )
    )
    (local.set $7
     (i32.const 4)
    )
    (loop $cont6
     (block $brk6
      (br_if $brk6
       (i32.ge_s
        (local.get $7)
        (i32.const 8)
       )
      )
      (f32.store
       (i32.add
        (local.get $1)
        (local.tee $9
         (i32.shl
          (local.get $7)
          (i32.const 2)
         )
        )
       )
       (f32.load
        (i32.add
         (local.get $5)
         (local.get $9)
        )
       )
      )
      (local.set $7
       (i32.add
        (local.get $7)
        (i32.const 1)
       )
      )
      (br $cont6)
     )
    )
    (local.set $2
     (f64.mul
      (call $cos
       (local.tee $3
        (f64.mul
         (local.get $6)
         (f64.const 1)
        )
       )
      )
      (f64.const 1.3465735902799727)
     )
    )
    (local.set $3
     (f64.mul
      (call $sin
       (local.get $3)
      )
      (f64.const 1.3465735902799727)
     )
    )
    (f32.store
     (local.get $1)
     (f32.demote_f64
      (f64.sub
       (f64.mul
        (local.tee $8
         (f64.promote_f32
          (f32.load
           (local.get $5)
          )
         )
        )
        (local.get $2)
       )
       (f64.mul
        (local.tee $10
         (f64.promote_f32
          (f32.load
           (i32.add
            (local.get $5)
            (i32.const 4)
           )
          )
         )
        )
        (local.get $3)
       )
      )
     )
    )
    (f32.store
     (i32.add
      (local.get $1)
      (i32.const 4)
     )
     (f32.demote_f64
      (f64.add
       (f64.mul
        (local.get $10)
        (local.get $2)
       )
       (f64.mul
        (local.get $8)
        (local.get $3)
       )
      )
     )
    )
    (local.set $6
     (f64.mul
      (call $cos
       (local.tee $2
        (f64.mul
         (local.get $6)
         (f64.const 0.00025)
        )
       )
      )
      (f64.const 1.3465735902799727)
     )
    )
    (local.set $2
     (f64.mul
      (call $sin
       (local.get $2)
      )
      (f64.const 1.3465735902799727)
     )
    )
    (f32.store
     (i32.add
      (local.get $1)
      (i32.const 8)
     )
     (f32.demote_f64
      (f64.sub
       (f64.mul
        (local.tee $3
         (f64.promote_f32
          (f32.load
           (i32.add
            (local.get $5)
            (i32.const 8)
           )
          )
         )
        )
        (local.get $6)
       )
       (f64.mul
        (local.tee $8
         (f64.promote_f32
          (f32.load
           (i32.add
            (local.get $5)
            (i32.const 12)
           )
          )
         )
        )
        (local.get $2)
       )
      )
     )
    )
    (f32.store
     (i32.add
      (local.get $1)
      (i32.const 12)
     )
     (f32.demote_f64
      (f64.add
       (f64.mul
        (local.get $8)
        (local.get $6)
       )
       (f64.mul
        (local.get $3)
        (local.get $2)
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
    (br $cont7)
   )
  )
 )
 (func $forward (param $0 i32)
  (if
   (i32.gt_u
    (local.get $0)
    (i32.const 32)
   )
   (then
    (unreachable)
   )
  )
  (call $k0_embedding
   (local.get $0)
  )
  (call $k1_rmsnorm
   (local.get $0)
  )
  (call $k2_elementwise
   (local.get $0)
  )
  (call $k3_elementwise
   (local.get $0)
  )
  (call $k4_rope
   (local.get $0)
  )
 )
)
