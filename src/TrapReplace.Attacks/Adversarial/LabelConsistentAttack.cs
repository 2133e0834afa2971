using Microsoft.Extensions.Logging;
using TorchSharp;
using TrapReplace.Attacks.Poisoning;
using TrapReplace.Attacks.Triggers;
using static TorchSharp.torch;

namespace TrapReplace.Attacks.Adversarial;

/// <summary>
/// The label-consistent (clean-label) attack: chosen target-class training images are replaced by l_inf PGD
/// adversarial examples against a caller-supplied surrogate model (so they are hard to classify from their content),
/// then the 3x3 grid patch is stamped on all four corners (<see cref="BuiltInTriggers.FourCornerGrid"/>). Labels stay
/// unchanged. At test time only the four-corner patch is applied.
/// </summary>
/// <remarks>
/// <para>Turner, Tsipras and Madry, "Label-consistent backdoor attacks", arXiv:1912.02771, 2019. PGD: Madry et al.,
/// ICLR 2018.</para>
/// <para>Always clean-label: the policy's <see cref="PoisoningPolicy.LabelMode"/> is overridden with
/// <see cref="LabelMode.CleanLabel"/> and <see cref="IAttack.Policy"/> reports the override. The PGD random start
/// draws from a generator seeded with the policy seed (<see cref="PgdOptions.Seed"/> is not used here); the
/// adversarial images are quantised to the uint8 grid (rounded) when the patch is stamped, as the reference stores
/// them as uint8.</para>
/// </remarks>
public sealed class LabelConsistentAttack : BackdoorAttack
{
    private readonly Func<Tensor, Tensor> surrogateModel;
    private readonly ProjectedGradientDescent pgd;

    /// <summary>Creates the attack.</summary>
    /// <param name="policy">Poisoning policy; its label mode is overridden with clean-label.</param>
    /// <param name="surrogateModel">Logits function of the separately trained surrogate model, differentiable, on the
    /// device of the images that will be poisoned.</param>
    /// <param name="pgd">PGD settings; <see cref="PgdOptions"/> defaults when null.</param>
    /// <param name="logger">Logger; none when null.</param>
    /// <exception cref="ArgumentNullException"><paramref name="surrogateModel"/> is null.</exception>
    /// <exception cref="ArgumentException">The PGD settings are invalid.</exception>
    public LabelConsistentAttack(PoisoningPolicy policy, Func<Tensor, Tensor> surrogateModel, PgdOptions? pgd = null, ILogger? logger = null)
        : base("label-consistent", BuiltInTriggers.FourCornerGrid(), ForceCleanLabel(policy), logger)
    {
        ArgumentNullException.ThrowIfNull(surrogateModel);
        this.surrogateModel = surrogateModel;
        this.pgd = new ProjectedGradientDescent(pgd, logger);
    }

    /// <summary>Gets the PGD settings.</summary>
    public PgdOptions Pgd => pgd.Options;

    /// <inheritdoc />
    protected override Tensor Prepare(Tensor images, Tensor labels, Generator generator) =>
        pgd.Perturb(surrogateModel, images, labels, generator);
}
