"""`keras.applications`: Keras's ImageNet models with their names, layers and weights (`VGG16`, `VGG19`,
`ResNet50`, `ResNet101`, `ResNet152`, `ResNet50V2`, `ResNet101V2`, `ResNet152V2`, `Xception`, `MobileNet`,
`MobileNetV2`, `MobileNetV3Small`, `MobileNetV3Large`, `InceptionV3`, `DenseNet121`, `DenseNet169`, `DenseNet201`,
`EfficientNetB0` ... `EfficientNetB7`, `EfficientNetV2B0` ... `EfficientNetV2B3`, `EfficientNetV2S`,
`EfficientNetV2M`, `EfficientNetV2L`, `ConvNeXtTiny` ... `ConvNeXtXLarge`), each module with its
`preprocess_input` and `decode_predictions`."""
from scanfit.applications import (
    convnext,
    densenet,
    efficientnet,
    efficientnet_v2,
    imagenet_utils,
    inception_v3,
    mobilenet,
    mobilenet_v2,
    mobilenet_v3,
    resnet,
    resnet50,
    resnet_v2,
    vgg16,
    vgg19,
    xception,
)
from scanfit.applications.convnext import ConvNeXtBase, ConvNeXtLarge, ConvNeXtSmall, ConvNeXtTiny, ConvNeXtXLarge
from scanfit.applications.densenet import DenseNet121, DenseNet169, DenseNet201
from scanfit.applications.efficientnet import (
    EfficientNetB0,
    EfficientNetB1,
    EfficientNetB2,
    EfficientNetB3,
    EfficientNetB4,
    EfficientNetB5,
    EfficientNetB6,
    EfficientNetB7,
)
from scanfit.applications.efficientnet_v2 import (
    EfficientNetV2B0,
    EfficientNetV2B1,
    EfficientNetV2B2,
    EfficientNetV2B3,
    EfficientNetV2L,
    EfficientNetV2M,
    EfficientNetV2S,
)
from scanfit.applications.inception_v3 import InceptionV3
from scanfit.applications.mobilenet import MobileNet
from scanfit.applications.mobilenet_v2 import MobileNetV2
from scanfit.applications.mobilenet_v3 import MobileNetV3Large, MobileNetV3Small
from scanfit.applications.resnet import ResNet50, ResNet101, ResNet152
from scanfit.applications.resnet_v2 import ResNet50V2, ResNet101V2, ResNet152V2
from scanfit.applications.vgg import VGG16, VGG19
from scanfit.applications.xception import Xception

__all__ = ["ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtSmall", "ConvNeXtTiny", "ConvNeXtXLarge",
           "DenseNet121", "DenseNet169", "DenseNet201", "EfficientNetB0", "EfficientNetB1", "EfficientNetB2",
           "EfficientNetB3", "EfficientNetB4", "EfficientNetB5", "EfficientNetB6", "EfficientNetB7",
           "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3", "EfficientNetV2L",
           "EfficientNetV2M", "EfficientNetV2S", "InceptionV3", "MobileNet", "MobileNetV2", "MobileNetV3Large",
           "MobileNetV3Small", "ResNet101", "ResNet101V2", "ResNet152", "ResNet152V2", "ResNet50", "ResNet50V2",
           "VGG16", "VGG19", "Xception", "convnext", "densenet", "efficientnet", "efficientnet_v2",
           "imagenet_utils",
           "inception_v3", "mobilenet", "mobilenet_v2", "mobilenet_v3", "resnet", "resnet50", "resnet_v2", "vgg16",
           "vgg19", "xception"]
