using Microsoft.Extensions.Logging;
using TorchSharp;
using TrapReplace.Attacks.Poisoning;
using TrapReplace.Attacks.Triggers;
using TrapReplace.Runtime;
using static TorchSharp.torch;

namespace TrapReplace.Attacks.Warping;

/// <summary>
/// WaNet, a warping-based, training-controlled attack. During training use <see cref="PoisonBatch"/> on every batch;
/// <see cref="IAttack.Poison"/> (static poisoning of the chosen indices, warp only) and
/// <see cref="IAttack.CreateTriggeredTestSet"/> (warp only) keep the evaluation path the same as for the other attacks.
/// </summary>
/// <remarks>
/// <para>Nguyen and Tran, "WaNet – imperceptible warping-based backdoor attack", ICLR 2021.</para>
/// <para>Per batch of B samples, as WaNet's training loop: n_bd = ⌊B·p⌋ samples (p = <see cref="PoisoningPolicy.PoisonRatio"/>,
/// a fraction of the batch whatever the denominator) are warped with the fixed grid and relabelled to the target;
/// n_cross = min(⌊n_bd·cross_ratio⌋, B − n_bd) other samples are warped with the grid plus a random perturbation
/// U(−1, 1)/H (x component /W), clipped to [−1, 1], and keep their labels ("noise mode"). Which samples is decided by a
/// random permutation drawn from the trainer's generator (WaNet takes the first ones of an already shuffled batch);
/// like WaNet, target-class samples may be chosen. Samples stay in their positions. Dirty-label only.</para>
/// </remarks>
public sealed class WaNetAttack : BackdoorAttack, IBatchPoisoner
{
    private readonly WarpingTrigger warp;

    /// <summary>Creates the attack.</summary>
    /// <param name="policy">Poisoning policy; must be dirty-label.</param>
    /// <param name="options">WaNet settings; defaults when null.</param>
    /// <param name="triggerSeed">Seed of the flow field.</param>
    /// <param name="logger">Logger; none when null.</param>
    /// <exception cref="ArgumentException">The options are invalid or the policy is clean-label.</exception>
    public WaNetAttack(PoisoningPolicy policy, WaNetOptions? options = null, int triggerSeed = 0, ILogger? logger = null)
        : base("wanet", CreateTrigger(options, triggerSeed), DirtyLabelOnly(policy), logger)
    {
        Options = options ?? new WaNetOptions();
        warp = (WarpingTrigger)Trigger;
    }

    /// <summary>Gets the WaNet settings.</summary>
    public WaNetOptions Options { get; }

    /// <inheritdoc />
    public (Tensor Images, Tensor Labels) PoisonBatch(Tensor images, Tensor labels, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(generator);
        if (images.dim() != 4 || images.shape[1] != 3 || !images.is_floating_point())
        {
            throw new ArgumentException(
                $"Expected floating images of shape (B, 3, H, W), got {images.dtype} ({string.Join(", ", images.shape)}).", nameof(images));
        }

        if (labels is null || labels.dim() != 1 || labels.shape[0] != images.shape[0] || labels.dtype != ScalarType.Int64)
        {
            throw new ArgumentException($"Expected int64 labels of shape ({images.shape[0]}).", nameof(labels));
        }

        using var step = StepScope.Begin();
        long batch = images.shape[0], height = images.shape[2], width = images.shape[3];
        long backdoor = (long)Math.Floor(batch * Policy.PoisonRatio);
        long cross = Math.Min((long)Math.Floor(backdoor * Options.CrossRatio), batch - backdoor);
        var outImages = images.clone();
        var outLabels = labels.clone();
        var order = randperm(batch, generator: generator).to(images.device);
        var grid = warp.SamplingGrid(height, width, images.device);
        if (backdoor > 0)
        {
            var index = order.narrow(0, 0, backdoor);
            var warped = WarpingTrigger.Warp(images.index_select(0, index), grid.expand(backdoor, -1, -1, -1));
            outImages.index_copy_(0, index, warped);
            outLabels.index_fill_(0, index.to(labels.device), Policy.TargetClass);
        }

        if (cross > 0)
        {
            var index = order.narrow(0, backdoor, cross);
            var noise = rand(new long[] { cross, height, width, 2 }, dtype: ScalarType.Float64, generator: generator)
                .mul(2.0).sub(1.0).div(tensor(new double[] { width, height })).to(images.device);
            var noisyGrid = grid.add(noise).clamp(-1.0, 1.0);
            outImages.index_copy_(0, index, WarpingTrigger.Warp(images.index_select(0, index), noisyGrid));
        }

        return (outImages.MoveToOuterDisposeScope(), outLabels.MoveToOuterDisposeScope());
    }

    private static WarpingTrigger CreateTrigger(WaNetOptions? options, int seed)
    {
        var o = options ?? new WaNetOptions();
        o.ThrowIfInvalid();
        return new WarpingTrigger(o.GridSize, o.Strength, o.GridRescale, seed);
    }

    private static PoisoningPolicy DirtyLabelOnly(PoisoningPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        if (policy.LabelMode != LabelMode.DirtyLabel)
        {
            throw new ArgumentException($"WaNet is a dirty-label attack; LabelMode = {policy.LabelMode} is not supported.", nameof(PoisoningPolicy.LabelMode));
        }

        return policy;
    }
}
