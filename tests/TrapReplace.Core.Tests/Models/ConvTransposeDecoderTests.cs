using TorchSharp.Modules;
using TrapReplace.Models;
using TrapReplace.Runtime;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace TrapReplace.Core.Tests.Models;

/// <summary>The decoder adds each transposed convolution's bias as its own op (a speed fix); it must still compute
/// exactly what its modules compute, with the same gradients, in both layouts and under bf16 autocast.</summary>
public sealed class ConvTransposeDecoderTests
{
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void Forward_and_gradients_equal_the_modules_own_chain(bool channelsLast, bool bf16)
    {
        using var scope = NewDisposeScope();
        var decoder = ModelSeed.Build(3, () => new ConvTransposeDecoder([new(16, 8, 4, 2, 1), new(8, 3, 4, 2, 1)]));
        var input = ModelSeed.Build(4, () => randn(4, 16, 8, 8));
        if (channelsLast) input = MemoryLayout.ToChannelsLast(input);
        var (first, second) = TransposedLayers(decoder);

        var output = Float32(bf16, () => decoder.call(input));
        var fromOutput = Gradients(decoder, output);
        var reference = Float32(bf16, () => functional.sigmoid(second.call(functional.relu(first.call(input)))));
        var fromReference = Gradients(decoder, reference);

        output.shape.Should().Equal(4, 3, 32, 32);
        double tolerance = bf16 ? 1e-2 : 1e-5;
        output.sub(reference).abs().max().ToDouble().Should().BeLessThan(tolerance);
        fromOutput.Keys.Should().BeEquivalentTo(["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"]);
        foreach (var (name, gradient) in fromOutput)
        {
            var expected = fromReference[name];
            double relative = gradient.sub(expected).norm().ToDouble() / expected.norm().ToDouble();
            relative.Should().BeLessThan(bf16 ? 2e-2 : 1e-4, name);
        }
    }

    private static (ConvTranspose2d First, ConvTranspose2d Second) TransposedLayers(ConvTransposeDecoder decoder)
    {
        var layers = decoder.named_modules().Select(m => m.module).OfType<ConvTranspose2d>().ToArray();
        layers.Should().HaveCount(2);
        return (layers[0], layers[1]);
    }

    private static Tensor Float32(bool bf16, Func<Tensor> forward) =>
        MixedPrecision.Float32Output(bf16 ? Precision.BFloat16 : Precision.Float32, forward);

    private static Dictionary<string, Tensor> Gradients(ConvTransposeDecoder decoder, Tensor output)
    {
        decoder.zero_grad();
        // A fixed, non-uniform loss so every weight and bias gets a distinct gradient.
        output.mul(linspace(-1, 1, output.numel()).view(output.shape)).sum().backward();
        return decoder.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.clone());
    }
}
