"""neuface train stage: DFL's SAEHD in PyTorch, weight-compatible with DFL's model folders.

Conventions: tensors are NCHW float32 inside, images BGR in [0, 1], masks (B,1,H,W) in [0, 1]; every
network output is a sigmoid. DFL's NHWC arrays: `torch.from_numpy(a).permute(0, 3, 1, 2)`.
Nothing heavy is imported by `neuface.train` itself (torch stays out of `neuface --help`): the names other
stages use are lazy exports (below).

Public API (import from the submodules):

- `neuface.train.options.SAEHDOptions`: every DFL option in DFL's stored order with DFL's defaults;
  `.normalized()` applies DFL's clamps, `.to_dfl()` gives data.dat's options dict (numpy scalar types
  as DFL stores them), `SAEHDOptions.from_dfl(d) -> (options, ignored_keys)`, `.replace(**changes)`.
- `neuface.train.archi.parse_archi("liae-ud") -> Archi(type, opts)` with `.u .d .t .c .is_liae`.
- `neuface.train.nn.build_saehd(resolution, archi, ae_dims, e_dims, d_dims, d_mask_dims, device=None)
  -> SAEHD` (`torch.device("meta")` works for parameter counts). `SAEHD`:
  - `.parts()` -> (`"encoder"`, module), ... in DFL's file order (LIAE: encoder, inter_AB, inter_B, decoder;
    DF: encoder, inter, decoder_src, decoder_dst);
  - `.merge(x) -> (pred_src_dst, pred_src_dstm, pred_dst_dstm)`: DFL's AE_merge on dst faces
    (B,3,res,res) -> (B,3,res,res), (B,1,res,res), (B,1,res,res). A .dfm's outputs are, in order,
    out_face_mask = pred_dst_dstm, out_celeb_face = pred_src_dst, out_celeb_face_mask = pred_src_dstm;
  - `forward(warped_src, warped_dst, swap=False) -> SAEHDOutputs` (the training graph).
  Depth-to-space uses DFL's DCR order (`nn.layers.depth_to_space`, a reshape/permute), so DFL weights
  drop in unchanged.
- `neuface.train.nn.UNetPatchDiscriminator(patch_size, in_ch, base_ch)`, `CodeDiscriminator`.
- Weight files and optimizers are the DFL core's: `neuface.dfl.weights` (`read_weight_file`,
  `load_weight_file(module, scope, path)`, `module_to_dfl`, `encode_weight_dict`, `dfl_key`) and
  `neuface.dfl.optim` (`AdaBelief`, `RMSprop`, state via `state_to_dfl()` / `load_dfl(d, source)`).
- `neuface.train.model_folder`: `list_models(model_dir)`, `current_model(model_dir, name=None) -> ModelRef | None`
  (the model train continues), `find_model(model_dir, name=None) -> ModelRef` (the same, required),
  `create_model(model_dir, name, options, device) -> (ref, SAEHDModel)`,
  `load_model(ref, device="cpu", training=True) -> SAEHDModel`, `save_model(ref, model, devices=None)`,
  `backup_model(ref)`. `ModelRef.weights_file(part)`, `.data_file`, `.summary_file`, `.dfm_file`;
  `xseg_ref(model_dir)` gives DFL's XSeg names (`XSeg_256.npy` = `weights_file("256")`, `XSeg_data.dat`).
  neuface-only state: `model.extra` (plain dict, stored as data.dat's extra key "neuface").
- `neuface.train.model.SAEHDModel`: options, net, src_dst_opt, gan/gan_opt, code_discriminator/..._opt,
  iter, loss_history, sample_for_preview, extra. `build_model(options, device)`, `apply_options(model, new)`.
- `neuface.train.losses`: `mask_blur`, `reconstruction_loss`, `style_loss`, `total_variation_mse`, `d_loss`
  (all per-sample (B,) vectors; differentiate their batch SUM), built on `neuface.dfl.losses` (`dssim`,
  `gaussian_blur`).
- `neuface.train.step`: `SAEHDBatch` (8 NCHW tensors: warped/target/mask/eyes-mouth mask per side),
  `SAEHDTrainer(model, precision, channels_last).train_step(batch) -> StepResult(src_loss, dst_loss)`
  (updates model.iter and model.loss_history; on CPU it calls `cpu_memory.retain_freed_memory()`).
- `neuface.train.saehd.train_saehd(workspace, TrainRun, device, precision, backup_dfm=None)`: a training run,
  `neuface.train.engine.SaehdEngine` in the shared loop of `neuface.training`.
"""

from neuface.lazy import lazy_exports

# What other stages (export, merge) use, imported lazily so `import neuface.train` stays free of torch.
_API = {"find_model": "model_folder", "load_model": "model_folder", "list_models": "model_folder",
        "SAEHDModel": "model"}
__getattr__, __dir__ = lazy_exports(__name__, _API)
