using Microsoft.Extensions.Options;
using TorchSharp;
using TrapReplace.Attacks.Adversarial;
using static TorchSharp.torch;

namespace TrapReplace.Attacks.Tests.Adversarial;

public sealed class ProjectedGradientDescentTests : IDisposable
{
    private const double Epsilon = 8.0 / 255.0;
    private readonly Tensor weight;
    private readonly Tensor bias;

    public ProjectedGradientDescentTests()
    {
        using var generator = new Generator(42);
        weight = randn(new long[] { 3 * 8 * 8, 5 }, generator: generator).mul_(0.3);
        bias = randn(new long[] { 5 }, generator: generator);
    }

    public void Dispose()
    {
        weight.Dispose();
        bias.Dispose();
    }

    [Fact]
    public void Pgd_raises_the_cross_entropy_and_stays_inside_the_epsilon_ball_and_0_1()
    {
        using var images = TestData.RandomUint8Images(16, 8, 8, seed: 5);
        using var labels = tensor(Enumerable.Range(0, 16).Select(i => (long)(i % 5)).ToArray());
        var pgd = new ProjectedGradientDescent(new PgdOptions { Epsilon = Epsilon, StepSize = 2.0 / 255.0, Steps = 10, Seed = 1, BatchSize = 6 });
        using var adversarial = pgd.Perturb(Logits, images, labels);

        using var cleanLoss = nn.functional.cross_entropy(Logits(images), labels);
        using var adversarialLoss = nn.functional.cross_entropy(Logits(adversarial), labels);
        adversarialLoss.ToDouble().Should().BeGreaterThan(cleanLoss.ToDouble() + 0.1);

        using var distance = adversarial.sub(images).abs().max();
        distance.ToDouble().Should().BeLessThanOrEqualTo(Epsilon + 1e-6);
        using var min = adversarial.min();
        using var max = adversarial.max();
        min.ToDouble().Should().BeGreaterThanOrEqualTo(0.0);
        max.ToDouble().Should().BeLessThanOrEqualTo(1.0);
    }

    [Fact]
    public void Pgd_is_reproducible_for_a_seed_and_leaves_the_input_unchanged()
    {
        using var images = TestData.RandomUint8Images(4, 8, 8, seed: 6);
        var before = TestData.ToFloats(images);
        using var labels = tensor(new long[] { 0, 1, 2, 3 });
        var options = new PgdOptions { Epsilon = Epsilon, Steps = 3, Seed = 7 };
        using var a = new ProjectedGradientDescent(options).Perturb(Logits, images, labels);
        using var b = new ProjectedGradientDescent(options).Perturb(Logits, images, labels);
        TestData.ToFloats(a).Should().Equal(TestData.ToFloats(b));
        TestData.ToFloats(images).Should().Equal(before);
    }

    [Fact]
    public void Pgd_accepts_a_module()
    {
        using var model = nn.Sequential(("flatten", nn.Flatten()), ("linear", nn.Linear(3 * 8 * 8, 5)));
        using (no_grad())
        {
            ((nn.Module<Tensor, Tensor>)model[1]).parameters().First().copy_(weight.t());
        }

        using var images = TestData.RandomUint8Images(4, 8, 8, seed: 8);
        using var labels = tensor(new long[] { 0, 1, 2, 3 });
        using var adversarial = new ProjectedGradientDescent(new PgdOptions { Epsilon = Epsilon, Steps = 5 }).Perturb(model, images, labels);
        using var distance = adversarial.sub(images).abs().max();
        distance.ToDouble().Should().BeGreaterThan(0.0).And.BeLessThanOrEqualTo(Epsilon + 1e-6);
        model.parameters().All(p => p.grad is null).Should().BeTrue("only the images get gradients");
    }

    [Fact]
    public void Invalid_options_are_reported_together()
    {
        var act = () => new ProjectedGradientDescent(new PgdOptions { Epsilon = 2, Steps = 0 });
        act.Should().Throw<OptionsValidationException>().Which.Failures.Should().Equal("Epsilon = 2 is outside [0, 1]", "Steps = 0 must be at least 1");
    }

    private Tensor Logits(Tensor x) => x.flatten(1).matmul(weight).add(bias);
}
