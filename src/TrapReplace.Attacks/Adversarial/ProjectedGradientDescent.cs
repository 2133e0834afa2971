using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using TrapReplace.Attacks.Poisoning;
using TrapReplace.Attacks.Triggers;
using TrapReplace.Runtime;
using static TorchSharp.torch;

namespace TrapReplace.Attacks.Adversarial;

/// <summary>
/// Untargeted l_inf projected gradient descent: maximises the cross-entropy of a caller-supplied model on the
/// true labels within an epsilon ball around each image.
/// </summary>
/// <remarks>
/// <para>Madry et al., "Towards deep learning models resistant to adversarial attacks", ICLR 2018.</para>
/// <para>x₀ = clip(x + U(−ε, ε), 0, 1) with random start (else x₀ = x); then, for each step,
/// x ← clip(min(max(x + η·sign(∇ₓ CE(f(x), y)), x_clean − ε), x_clean + ε), 0, 1). The loss is summed over the
/// batch, so each image's step does not depend on the batch size. Only the images get gradients; the model's
/// parameter gradients are not touched. The model is used as given: put it in eval mode first if it has
/// batch normalisation or dropout, and on the images' device.</para>
/// </remarks>
public sealed class ProjectedGradientDescent
{
    private readonly ILogger logger;

    /// <summary>Creates the attack.</summary>
    /// <param name="options">Settings; defaults when null.</param>
    /// <param name="logger">Logger for progress (debug level); none when null.</param>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    public ProjectedGradientDescent(PgdOptions? options = null, ILogger? logger = null)
    {
        Options = options ?? new PgdOptions();
        Options.ThrowIfInvalid();
        this.logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Gets the settings.</summary>
    public PgdOptions Options { get; }

    /// <summary>Computes adversarial examples against a module.</summary>
    /// <param name="model">The model; called with <c>call</c> so hooks run.</param>
    /// <param name="images">Clean images (N, 3, H, W), float in [0, 1]; left unchanged.</param>
    /// <param name="labels">True labels (N), int64.</param>
    /// <param name="generator">CPU generator for the random start; one seeded with <see cref="PgdOptions.Seed"/> when null.</param>
    /// <returns>Adversarial images (N, 3, H, W) with |x_adv − x|_inf ≤ ε and values in [0, 1]. The caller owns them.</returns>
    public Tensor Perturb(nn.Module<Tensor, Tensor> model, Tensor images, Tensor labels, Generator? generator = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Perturb(model.call, images, labels, generator);
    }

    /// <summary>Computes adversarial examples against a logits function.</summary>
    /// <param name="model">Maps images (n, 3, H, W) to logits (n, classes), differentiably.</param>
    /// <param name="images">Clean images (N, 3, H, W), float in [0, 1]; left unchanged.</param>
    /// <param name="labels">True labels (N), int64.</param>
    /// <param name="generator">CPU generator for the random start; one seeded with <see cref="PgdOptions.Seed"/> when null.</param>
    /// <returns>Adversarial images (N, 3, H, W) with |x_adv − x|_inf ≤ ε and values in [0, 1]. The caller owns them.</returns>
    /// <exception cref="ArgumentException">Invalid images or labels.</exception>
    public Tensor Perturb(Func<Tensor, Tensor> model, Tensor images, Tensor labels, Generator? generator = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        PixelSpace.ValidateImages(images);
        BackdoorAttack.ReadLabels(labels, images.shape[0]);
        using var owned = generator is null ? new Generator(unchecked((ulong)(uint)Options.Seed)) : null;
        var random = generator ?? owned!;
        long total = images.shape[0];
        var result = images.detach().clone();
        for (long start = 0; start < total; start += Options.BatchSize)
        {
            using var step = StepScope.Begin();
            long length = Math.Min(Options.BatchSize, total - start);
            var adversarial = PerturbBatch(model, images.narrow(0, start, length), labels.narrow(0, start, length), random);
            result.narrow(0, start, length).copy_(adversarial);
            AttackLog.PgdProgress(logger, start + length, total, Options.Epsilon, Options.Steps);
        }

        return result;
    }

    private Tensor PerturbBatch(Func<Tensor, Tensor> model, Tensor images, Tensor labels, Generator generator)
    {
        using var gradients = enable_grad();
        double epsilon = Options.Epsilon;
        var clean = images.detach();
        var lower = clean.sub(epsilon);
        var upper = clean.add(epsilon);
        var adversarial = clean.clone();
        if (Options.RandomStart)
        {
            using var noise = rand(clean.shape, dtype: clean.dtype, generator: generator);
            using var onDevice = noise.to(clean.device);
            adversarial.add_(onDevice.mul(2.0 * epsilon).sub_(epsilon)).clamp_(0.0, 1.0);
        }

        for (int step = 0; step < Options.Steps; step++)
        {
            using var stepScope = StepScope.Begin();
            var input = adversarial.clone().requires_grad_(true);
            var loss = nn.functional.cross_entropy(model(input), labels, reduction: nn.Reduction.Sum);
            var gradient = autograd.grad(new[] { loss }, new[] { input })[0];
            using (no_grad())
            {
                var next = input.detach().add(gradient.sign().mul_(Options.StepSize));
                next = minimum(maximum(next, lower), upper).clamp_(0.0, 1.0);
                adversarial.copy_(next);
            }
        }

        return adversarial;
    }
}
